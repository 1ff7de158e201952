// What an exec session runs, however it was started: on pipes (pipe-runner.ts) or on a
// pseudo-terminal (pty-runner.ts). Either way the process leads a session of its own, so it
// never gets a signal meant for the app and can be killed with everything it started.
import type { Readable } from 'node:stream';
import type * as NodePty from 'node-pty';
import type { PosixAddon } from '../native/posix.js';
import type { ChildExits } from '../supervisor/child-exits.js';

/**
 * What the exec code, which lives in the lazily loaded connection chunk, borrows from the main
 * bundle: the SIGCHLD dispatcher and the native addons must be the very instances the app's
 * supervisor uses (a second dispatcher would let its orphan reaper steal an exec's exit status;
 * a second copy of the loader would unpack pty.node again).
 */
export interface ExecHost {
  /** src/supervisor/child-exits.ts: owns each exec's pid, the orphan reaper never waits for it. */
  exits: ChildExits;
  /** The posix addon (native/); throws when it cannot be loaded. */
  posix(): PosixAddon;
  /** node-pty, its addon loaded the way the app's terminal loads it; throws when it cannot be. */
  nodePty(): typeof NodePty;
}

export interface ExecSpec {
  /** argv[0] as the server sent it. */
  command: string;
  /** The resolved executable. */
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export interface WindowSize {
  rows: number;
  cols: number;
}

export interface ExecProcess {
  readonly pid: number;
  /** All output with a terminal; stdout alone on pipes. */
  readonly stdout: Readable;
  /** Pipes only. */
  readonly stderr?: Readable;
  /**
   * Each chunk of stdout and stderr is at most MAX_OUTPUT_CHUNK with OUTPUT_HEADROOM free bytes
   * before it in its buffer (wire.ts encodeOutputInPlace); false: chunks of any size, no room.
   */
  readonly framedOutput: boolean;
  /** The exit status: its code, or 128+N for signal N. */
  readonly exited: Promise<number>;
  /** Input for the process; false when it is congested: wait for `onceDrain`. */
  write(data: Buffer): boolean;
  onceDrain(callback: () => void): void;
  /** No more input: stdin closed (pipes), or ^D (terminal). */
  endInput(): void;
  /** Terminal only; ignored on pipes. */
  resize(size: WindowSize): void;
  /** SIGKILL to the process and everything of its session. */
  kill(): void;
}

/** The command could not be started; `code` is one of EXEC_ERROR_CODE. */
export class ExecStartError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
  }
}
