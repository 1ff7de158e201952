// The app on a pseudo-terminal (node-pty), when we run on a terminal ourselves: a shell behind
// us keeps its prompt, line editing and job control.
import type { IPty } from 'node-pty';
import type { ChildExits } from './child-exits.js';
import { type ChildSpec, type RunningChild, signalProcess, SpawnError, type TerminalSize } from './child.js';
import { loadNodePty } from './node-pty.js';
import { ptyOutput, running } from './pty-output.js';
import { exitStatus } from './signals.js';

export function spawnWithTerminal(spec: ChildSpec, size: TerminalSize, term: string, exits: ChildExits): RunningChild {
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
  // node-pty reaps it. Its last output is never lost (pty-output.ts), once we know it is gone: at
  // a SIGCHLD. (Missed, node-pty's own close 200 ms after its reap ends it, as without us.)
  const output = ptyOutput(child);
  const release = exits.watch(pid, () => {
    if (!output.isGone && !running(pid)) output.gone();
  });
  const exited = new Promise<number>((done) => {
    child.onExit(({ exitCode, signal }) => {
      release();
      done(exitStatus(exitCode, signal ?? null));
    });
  });
  return {
    pid,
    exited,
    stdout: output.stream,
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
