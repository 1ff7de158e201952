// Orphan reaping as PID 1 or as a subreaper. The pids we spawn ourselves (the app, exec
// sessions, node-pty children) are owned (child-exits.ts): libuv, node-pty or their owner wait
// for those and need their exit status, so the native reaper skips them and waits only for
// adopted orphans, at each SIGCHLD the dispatcher sees.
import type { Logger } from '../log.js';
import { posix, type PosixAddon } from '../native/posix.js';
import type { ChildExits } from './child-exits.js';

export interface ReaperOptions {
  asSubreaper: boolean;
  logger: Logger;
  exits: ChildExits;
}

/**
 * Starts reaping when we are PID 1 or asked to be a subreaper; otherwise orphans are not ours
 * to reap and the addon is not even loaded. Returns whether reaping is active.
 */
export function startReaper({ asSubreaper, logger, exits }: ReaperOptions): boolean {
  if (process.pid !== 1 && !asSubreaper) return false;
  let reaper: PosixAddon;
  try {
    reaper = posix();
  } catch (err) {
    logger.warn('zombie reaping is off: the native addon did not load', { error: (err as Error).message });
    return false;
  }
  if (process.pid !== 1 && !reaper.setChildSubreaper()) {
    logger.warn('zombie reaping is off: prctl(PR_SET_CHILD_SUBREAPER) was refused');
    return false;
  }
  exits.reapOrphansWith((owned) => reaper.reapOrphans(owned));
  logger.debug('reaping orphaned processes', { mode: process.pid === 1 ? 'pid1' : 'subreaper' });
  return true;
}
