// An exec command on a pseudo-terminal (node-pty, loaded through the main bundle so that the
// single binary unpacks its addon once, as for the app's terminal). Bytes, not strings, both
// ways (encoding: null): a UTF-8 sequence cut between two reads still arrives intact.
//
// The last output is never lost: see src/supervisor/pty-output.ts.
import type { IPty } from 'node-pty';
import { EXEC_ERROR_CODE } from '../protocol/exec-status.js';
import { ptyOutput } from '../supervisor/pty-output.js';
import { exitStatus } from '../supervisor/signals.js';
import { SessionLeader } from './kill.js';
import { type ExecHost, type ExecProcess, type ExecSpec, ExecStartError, type WindowSize } from './process.js';

export const DEFAULT_TERM = 'xterm-256color';
export const DEFAULT_SIZE: WindowSize = { rows: 24, cols: 80 };
/** ^D: end of input on a terminal in canonical mode. */
const EOF_CHAR = Buffer.from([0x04]);
/** node-pty's own write queue (entries), beyond which the input counts as congested. */
const INPUT_QUEUE_MAX = 16;
const INPUT_DRAIN_POLL_MS = 5;

export interface PtyOptions {
  term: string;
  size: WindowSize;
}

/**
 * The largest dimension we give a terminal. The kernel keeps a size in 16 bits (70000 columns
 * would wrap to 4464), and a program sizes its screen buffer by rows × cols: no real terminal
 * comes near this.
 */
export const MAX_WINDOW_DIMENSION = 4096;

/** A size from the request: a zero, negative or unset dimension takes the default's; clamped. */
export function windowSize(size: { rows?: number; cols?: number } | null | undefined): WindowSize {
  return { rows: dimension(size?.rows, DEFAULT_SIZE.rows), cols: dimension(size?.cols, DEFAULT_SIZE.cols) };
}

function dimension(value: number | undefined, fallback: number): number {
  if (value === undefined || !Number.isFinite(value) || value < 1) return fallback;
  return Math.min(Math.floor(value), MAX_WINDOW_DIMENSION);
}

/** node-pty's queue of writes not yet taken by the terminal (an internal: 0 if it changed). */
function queuedWrites(child: IPty): number {
  const queue = (child as unknown as { _writeStream?: { _writeQueue?: unknown } })._writeStream?._writeQueue;
  return Array.isArray(queue) ? queue.length : 0;
}

export function spawnPty(spec: ExecSpec, options: PtyOptions, host: ExecHost): ExecProcess {
  let child: IPty;
  try {
    child = host.nodePty().spawn(spec.file, spec.args, {
      name: options.term,
      rows: options.size.rows,
      cols: options.size.cols,
      cwd: spec.cwd,
      env: spec.env,
      encoding: null,
    });
  } catch (err) {
    throw new ExecStartError(`${spec.command}: ${(err as Error).message}`, EXEC_ERROR_CODE.INTERNAL);
  }
  const pid = child.pid;
  // node-pty reaps it in a thread of its own, usually before we even hear of the exit: its pid
  // may then name someone else's session. The leader knows what may still be killed (kill.ts).
  const leader = new SessionLeader(pid);
  // Gone (a zombie, or reaped): its input goes nowhere.
  const output = ptyOutput(child);
  const release = host.exits.watch(pid, () => {
    // Also every second while it runs: the leader's last sighting decides which of its session's
    // processes can still be told from strangers once it was reaped (kill.ts).
    if (output.isGone || leader.look() === 'running') return;
    // Jobs of an interactive shell may still run in groups of their own: they go with it, and
    // no one writes to the terminal any more. Only what is provably of its session (kill.ts): a
    // job started since the last look, with the leader already reaped, is left running.
    leader.killSession();
    output.gone();
  });
  const exited = new Promise<number>((resolve) => {
    child.onExit(({ exitCode, signal }) => {
      release();
      // Reaped by now; the session was killed above unless the SIGCHLD was not seen yet.
      leader.markReaped();
      leader.killSession();
      resolve(exitStatus(exitCode, signal ?? null));
    });
  });
  const onceDrain = (callback: () => void) => {
    if (output.isGone || queuedWrites(child) < INPUT_QUEUE_MAX) return callback();
    setTimeout(() => onceDrain(callback), INPUT_DRAIN_POLL_MS);
  };
  return {
    pid,
    stdout: output.stream,
    framedOutput: false,
    exited,
    write: (data) => {
      if (output.isGone) return true; // dropped: nothing reads it any more
      child.write(data as unknown as string); // a Buffer goes through as bytes
      return queuedWrites(child) < INPUT_QUEUE_MAX;
    },
    onceDrain,
    endInput: () => {
      if (!output.isGone) child.write(EOF_CHAR as unknown as string);
    },
    resize: (size) => {
      if (output.isGone) return;
      try {
        child.resize(size.cols, size.rows);
      } catch {
        // the terminal closed under us: the process is exiting
      }
    },
    kill: () => leader.killSession(),
  };
}
