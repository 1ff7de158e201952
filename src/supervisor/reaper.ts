// Orphan reaping as PID 1 or as a subreaper. The pids we spawn ourselves (the app, exec
// sessions, node-pty children) are "owned": libuv or node-pty wait for those and need their
// exit status, so the native reaper skips them and waits only for adopted orphans.
import type { Logger } from '../log.js';
import { posix, type PosixAddon } from '../native/posix.js';

const owned = new Set<number>();
let reaper: PosixAddon | undefined;

/** Call right after a spawn returns, in the same tick, before any SIGCHLD handler can run. */
export function ownPid(pid: number): void {
  owned.add(pid);
}

/** Call once the owner has collected the exit status. */
export function disownPid(pid: number): void {
  owned.delete(pid);
  reapNow(); // an orphan may have exited while its pid was still ours
}

function reapNow(): void {
  if (reaper) reaper.reapOrphans(Int32Array.from(owned));
}

export interface ReaperOptions {
  asSubreaper: boolean;
  logger: Logger;
}

/**
 * Starts reaping when we are PID 1 or asked to be a subreaper; otherwise orphans are not ours
 * to reap and the addon is not even loaded. Returns whether reaping is active.
 */
export function startReaper({ asSubreaper, logger }: ReaperOptions): boolean {
  if (process.pid !== 1 && !asSubreaper) return false;
  try {
    reaper = posix();
  } catch (err) {
    logger.warn('zombie reaping is off: the native addon did not load', { error: (err as Error).message });
    return false;
  }
  if (process.pid !== 1 && !reaper.setChildSubreaper()) {
    logger.warn('zombie reaping is off: prctl(PR_SET_CHILD_SUBREAPER) was refused');
    reaper = undefined;
    return false;
  }
  process.on('SIGCHLD', reapNow);
  reapNow();
  logger.debug('reaping orphaned processes', { mode: process.pid === 1 ? 'pid1' : 'subreaper' });
  return true;
}
