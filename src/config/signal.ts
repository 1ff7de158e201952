// file_change_signal names a signal as Waypoint does: `SIGUSR2`, `USR2`, any case.
import { constants } from 'node:os';

/** The signal's Node name, or undefined when there is no such signal. */
export function parseSignalName(name: string): NodeJS.Signals | undefined {
  const upper = name.trim().toUpperCase();
  if (upper === '') return undefined;
  const full = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as NodeJS.Signals;
  return Object.hasOwn(constants.signals, full) ? full : undefined;
}

/** Signals no app can catch: a file change would kill or freeze it, never tell it. */
export const FILE_SIGNAL_REFUSED: readonly NodeJS.Signals[] = ['SIGKILL', 'SIGSTOP'];
