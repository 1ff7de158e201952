// What a started app looks like to the supervisor, however it was started: on pipes
// (spawn-pipes.ts) or on a pseudo-terminal (spawn-terminal.ts). Either way it leads a process
// group of its own, so a stop can reach its grandchildren too.
import type { Readable } from 'node:stream';

export interface ChildSpec {
  /** argv[0] as the user typed it, used for messages and as the child's argv[0]. */
  command: string;
  /** The resolved executable. */
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

export interface TerminalSize {
  cols: number;
  rows: number;
}

/** A started child. `exited` resolves with its exit status (code, or 128+signal). */
export interface RunningChild {
  readonly pid: number;
  readonly exited: Promise<number>;
  /**
   * The child's output when it passes us; with a terminal, stdout carries both streams, as on a
   * real one. Neither when the child writes to our stdout and stderr itself.
   */
  readonly stdout?: Readable;
  readonly stderr?: Readable;
  /** Instead of streams: the read ends of the child's pipes, for the native relay to own. */
  readonly outputFds?: { stdout: number; stderr: number };
  kill(signal: NodeJS.Signals, toGroup: boolean): void;
  /** Terminal mode only: our own input, raw, goes to the child's terminal. */
  writeInput?(data: Buffer): void;
  resize?(size: TerminalSize): void;
}

export class SpawnError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

export function signalProcess(pid: number, signal: NodeJS.Signals, toGroup: boolean): void {
  try {
    process.kill(toGroup ? -pid : pid, signal);
  } catch {
    // ESRCH: already gone, nothing left to signal
  }
}
