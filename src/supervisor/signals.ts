// Which signals we pass on to the app, and how a signal death becomes an exit status.

/**
 * Forwarded to the child, as tini does: everything a user or orchestrator may send, except the
 * synchronous fault signals, SIGCHLD (ours to handle) and SIGTTIN/SIGTTOU (terminal job
 * control of our own process). SIGKILL and SIGSTOP cannot be caught by anyone.
 */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = [
  'SIGHUP',
  'SIGINT',
  'SIGQUIT',
  'SIGTERM',
  'SIGUSR1',
  'SIGUSR2',
  'SIGWINCH',
  'SIGALRM',
  'SIGCONT',
  'SIGTSTP',
  'SIGPWR',
  'SIGVTALRM',
  'SIGXCPU',
  'SIGXFSZ',
  'SIGURG',
  'SIGIO',
];

/** Signals that, besides being forwarded, mean "stop the app and exit". */
export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];

/** The system's signal numbers, from os when first needed: start-up does not load it. */
function signals(): typeof import('node:os').constants.signals {
  return (require('node:os') as typeof import('node:os')).constants.signals;
}

export function signalNumber(signal: NodeJS.Signals): number {
  return signals()[signal];
}

export function signalName(num: number): NodeJS.Signals | undefined {
  const table = signals();
  return (Object.keys(table) as NodeJS.Signals[]).find((name) => table[name] === num);
}

/** The shell convention: an exit code as is, death by signal N as 128+N. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | number | null): number {
  if (signal !== null && signal !== 0) {
    return 128 + (typeof signal === 'number' ? signal : signalNumber(signal));
  }
  return code ?? 0;
}
