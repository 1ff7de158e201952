// The app on a pseudo-terminal (node-pty), when we run on a terminal ourselves: a shell behind
// us keeps its prompt, line editing and job control.
import { PassThrough, type Readable } from 'node:stream';
import type { IPty } from 'node-pty';
import { type ChildSpec, type RunningChild, signalProcess, SpawnError, type TerminalSize } from './child.js';
import { loadNodePty } from './node-pty.js';
import { disownPid, ownPid } from './reaper.js';
import { exitStatus } from './signals.js';

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
