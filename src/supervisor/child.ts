// Starting the app: plain pipes, or a pseudo-terminal when we run on one. Either way the child
// leads a process group of its own, so a stop can reach its grandchildren too.
import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import type { IPty } from 'node-pty';
import { loadNodePty } from './node-pty.js';
import { disownPid, ownPid } from './reaper.js';
import { exitStatus } from './signals.js';

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
  /** The child's output; with a terminal, stdout carries both streams, as on a real one. */
  readonly stdout: Readable;
  readonly stderr?: Readable;
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

function signalProcess(pid: number, signal: NodeJS.Signals, toGroup: boolean): void {
  try {
    process.kill(toGroup ? -pid : pid, signal);
  } catch {
    // ESRCH: already gone, nothing left to signal
  }
}

/** stdin is the child's own (inherited, so EOF and terminal checks behave as without us). */
export function spawnWithPipes(spec: ChildSpec): Promise<RunningChild> {
  return new Promise((resolve, reject) => {
    const cp = spawn(spec.file, spec.args, {
      argv0: spec.command,
      env: spec.env,
      cwd: spec.cwd,
      stdio: ['inherit', 'pipe', 'pipe'],
      detached: true, // setsid: a process group of its own, for group signals and the final SIGKILL
    });
    if (cp.pid === undefined) {
      cp.once('error', (err: NodeJS.ErrnoException) => {
        const exitCode = err.code === 'ENOENT' ? 127 : 126;
        reject(new SpawnError(`${spec.command}: ${err.message}`, exitCode));
      });
      return;
    }
    const pid = cp.pid;
    ownPid(pid);
    const exited = new Promise<number>((done) => {
      cp.once('exit', (code, signal) => {
        disownPid(pid);
        done(exitStatus(code, signal));
      });
    });
    resolve({
      pid,
      exited,
      stdout: cp.stdout!,
      stderr: cp.stderr!,
      kill: (signal, toGroup) => signalProcess(pid, signal, toGroup),
    });
  });
}

/** A pseudo-terminal, so that a shell behind us keeps its prompt, line editing and job control. */
export function spawnWithTerminal(spec: ChildSpec, size: TerminalSize, term: string): RunningChild {
  const pty = loadNodePty();
  let child: IPty;
  try {
    child = pty.spawn(spec.file, spec.args, {
      name: term,
      cols: size.cols,
      rows: size.rows,
      cwd: spec.cwd,
      env: spec.env,
      encoding: null, // Buffers: bytes pass through exactly, even a UTF-8 sequence cut in two
    });
  } catch (err) {
    throw new SpawnError(`${spec.command}: ${(err as Error).message}`, 126);
  }
  const pid = child.pid;
  ownPid(pid);
  const output = ptyOutput(child);
  const exited = new Promise<number>((done) => {
    child.onExit(({ exitCode, signal }) => {
      disownPid(pid);
      done(exitStatus(exitCode, signal ?? null));
    });
  });
  return {
    pid,
    exited,
    stdout: output,
    kill: (signal, toGroup) => signalProcess(pid, signal, toGroup),
    writeInput: (data) => child.write(data as unknown as string),
    resize: ({ cols, rows }) => {
      try {
        child.resize(cols, rows);
      } catch {
        // the terminal is already closed: the child is exiting
      }
    },
  };
}

/** node-pty's data events as a Readable, so both child kinds relay the same way. */
function ptyOutput(child: IPty): Readable {
  // node-pty reads the master side itself; pause/resume on it gives us backpressure.
  const out = new PassThrough();
  child.onData((data) => {
    if (!out.write(data)) {
      child.pause();
      out.once('drain', () => child.resume());
    }
  });
  child.onExit(() => out.end());
  return out;
}
