// The output of a process on a pseudo-terminal (node-pty), as a Readable, with nothing lost at
// its exit: the app's terminal (spawn-terminal.ts) and an exec's (src/exec/pty-runner.ts) both
// read it this way. Pure (no module state): both bundles may hold a copy.
//
// The last output: when the terminal's last slave fd closes while output is still unread, Linux
// drops it (measured: up to a terminal buffer, ~4 KiB, of a 3 MiB write, even with a reader that
// never pauses). So we hold a slave fd of our own while the process runs: nothing is dropped, and
// the master never sees EIO. Once the process is gone (`gone()`, at SIGCHLD) reading never pauses
// again, and when it has been quiet a moment (the writers are dead, what is left is at most a
// terminal's buffer) we close our slave: node-pty reads EIO, closes and reports the exit. It would
// also close its side by itself 200 ms after reaping the child; by then everything was read.
import { closeSync, constants, openSync, readFileSync } from 'node:fs';
import { PassThrough } from 'node:stream';
import type { IPty } from 'node-pty';

/** Once the process is gone, this long without output means all of it was read. */
const QUIET_AFTER_EXIT_MS = 20;

export interface PtyOutput {
  /** Everything the terminal's processes wrote; ends when node-pty reports the exit. */
  readonly stream: PassThrough;
  /** The process exited (a zombie, or reaped): read on without pausing, then let go. */
  gone(): void;
  readonly isGone: boolean;
}

/** Running, as opposed to reaped or a zombie (node-pty reaps it in a thread of its own). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat[stat.lastIndexOf(')') + 2];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** A slave fd of our own (never our controlling terminal); undefined if it cannot be opened. */
function holdSlave(child: IPty): number | undefined {
  const name = (child as unknown as { ptsName?: unknown }).ptsName;
  if (typeof name !== 'string' || !name.startsWith('/dev/')) return undefined;
  try {
    return openSync(name, constants.O_RDWR | constants.O_NOCTTY);
  } catch {
    return undefined; // as node-pty alone: the last bytes may be lost
  }
}

/** Call right after the spawn. node-pty's pause/resume gives the stream backpressure. */
export function ptyOutput(child: IPty, highWaterMark = 64 * 1024): PtyOutput {
  let slave = holdSlave(child);
  let isGone = false;
  const stream = new PassThrough({ highWaterMark });
  const resume = () => child.resume();
  let quiet: NodeJS.Timeout | undefined;
  const releaseSlave = () => {
    if (slave === undefined) return;
    closeSync(slave);
    slave = undefined;
  };
  let reads = 0;
  const quietThenRelease = () => {
    clearTimeout(quiet);
    const seen = reads;
    // Timers run before the loop reads: after a stall (a loaded machine) the rest may be
    // waiting in the terminal unread. Look again after the loop's poll (setImmediate).
    quiet = setTimeout(() => setImmediate(() => reads === seen && releaseSlave()), QUIET_AFTER_EXIT_MS);
  };
  child.onData((data) => {
    reads++;
    if (isGone) quietThenRelease();
    if (!stream.write(data as unknown as Buffer) && !isGone) {
      child.pause();
      stream.once('drain', resume);
    }
  });
  child.onExit(() => {
    isGone = true;
    clearTimeout(quiet);
    releaseSlave();
    stream.end();
  });
  return {
    stream,
    get isGone() {
      return isGone;
    },
    gone: () => {
      if (isGone) return;
      isGone = true;
      stream.off('drain', resume);
      child.resume();
      quietThenRelease();
    },
  };
}
