// The app without a terminal: stdin is its own (inherited, so EOF and terminal checks behave
// as without us). Its stdout and stderr are real pipes to us when we relay them (log capture:
// the addon's relay threads read them), or ours themselves, as under tini, when nobody reads a
// copy (disabled mode). Started by the posix addon (posix_spawn, see native/spawn.c), or by
// child_process if that addon cannot load (its socket pairs then read by the JavaScript relay).
import type { Logger } from '../log.js';
import { posix, type PosixAddon } from '../native/posix.js';
import { type ChildSpec, type RunningChild, signalProcess, SpawnError } from './child.js';
import { closeFds, openPipes, type Pipe } from './pipes.js';
import type { ChildExits } from './child-exits.js';
import { exitStatus } from './signals.js';

/** 'relay': pipes to us, read as streams; 'direct': our own stdout and stderr, nothing read. */
export type OutputMode = 'relay' | 'direct';

export async function spawnWithPipes(spec: ChildSpec, logger: Logger, exits: ChildExits, output: OutputMode): Promise<RunningChild> {
  let native: PosixAddon;
  try {
    native = posix();
  } catch (err) {
    if (output === 'relay') {
      logger.warn('app output goes through socket pairs, not pipes: the native addon did not load', {
        error: (err as Error).message,
      });
    }
    return spawnWithChildProcess(spec, exits, output);
  }
  return output === 'direct' ? spawnDirect(native, spec, exits) : spawnRelayed(native, spec, exits);
}

function spawnDirect(native: PosixAddon, spec: ChildSpec, exits: ChildExits): RunningChild {
  const pid = startOrExplain(native, spec, 1, 2);
  return { pid, exited: reaped(native, pid, exits), kill: (signal, toGroup) => signalProcess(pid, signal, toGroup) };
}

async function spawnRelayed(native: PosixAddon, spec: ChildSpec, exits: ChildExits): Promise<RunningChild> {
  const [out, err] = openPipes(native, 2) as [Pipe, Pipe];
  let pid: number;
  try {
    pid = startOrExplain(native, spec, out[1], err[1]);
  } catch (e) {
    closeFds([out[0], err[0]]);
    throw e;
  } finally {
    // The child has its copies of the write ends; ours would hold its output open forever.
    closeFds([out[1], err[1]]);
  }
  // The read ends go to the native relay's threads (supervisor.ts, native-relay.ts).
  return {
    pid,
    exited: reaped(native, pid, exits),
    outputFds: { stdout: out[0], stderr: err[0] },
    kill: (signal, toGroup) => signalProcess(pid, signal, toGroup),
  };
}

/**
 * We wait for it ourselves (the dispatcher's poll keeps us waiting even when its output closed
 * long before it exits).
 */
function reaped(native: PosixAddon, pid: number, exits: ChildExits): Promise<number> {
  return new Promise<number>((resolve) => {
    exits.reap(pid, {
      wait: (p, keep) => native.waitChild(p, keep),
      onExit: (status) => resolve(exitStatus(status.code, status.signal)),
    });
  });
}

/** posix_spawn, with execvp's fallback for a script without a #! line; errors as SpawnError. */
function startOrExplain(native: PosixAddon, spec: ChildSpec, outFd: number, errFd: number): number {
  const envp = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
  const cwd = spec.cwd === process.cwd() ? null : spec.cwd;
  try {
    return native.spawn(spec.file, [spec.command, ...spec.args], envp, cwd, outFd, errFd);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === undefined) throw e;
    // Only on an error: os is not loaded at every start.
    const { constants } = require('node:os') as typeof import('node:os');
    if (errno === constants.errno.ENOEXEC) {
      return native.spawn('/bin/sh', ['/bin/sh', spec.file, ...spec.args], envp, cwd, outFd, errFd);
    }
    const exitCode = errno === constants.errno.ENOENT ? 127 : 126;
    throw new SpawnError(`${spec.command}: ${(e as Error).message.replace(`${spec.file}: `, '')}`, exitCode);
  }
}

/** The fallback: libuv's stdio pipes are socket pairs, so /dev/stdout and SIGPIPE differ. */
function spawnWithChildProcess(spec: ChildSpec, exits: ChildExits, output: OutputMode): Promise<RunningChild> {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const cp = spawn(spec.file, spec.args, {
      argv0: spec.command,
      env: spec.env,
      cwd: spec.cwd,
      stdio: output === 'direct' ? 'inherit' : ['inherit', 'pipe', 'pipe'],
      detached: true, // setsid, as the native path does
    });
    if (cp.pid === undefined) {
      cp.once('error', (err: NodeJS.ErrnoException) => {
        reject(new SpawnError(`${spec.command}: ${err.message}`, err.code === 'ENOENT' ? 127 : 126));
      });
      return;
    }
    const pid = cp.pid;
    const release = exits.watch(pid); // libuv reaps it
    const exited = new Promise<number>((done) => {
      cp.once('exit', (code, signal) => {
        release();
        done(exitStatus(code, signal));
      });
    });
    resolve({
      pid,
      exited,
      stdout: cp.stdout ?? undefined,
      stderr: cp.stderr ?? undefined,
      kill: (signal, toGroup) => signalProcess(pid, signal, toGroup),
    });
  });
}
