// The app on pipes: stdin is its own (inherited, so EOF and terminal checks behave as without
// us), stdout and stderr are real pipes to us. Started by the posix addon (posix_spawn, see
// native/spawn.c), or by child_process if that addon cannot be loaded.
import { constants } from 'node:os';
import type { Logger } from '../log.js';
import { posix, type PosixAddon } from '../native/posix.js';
import { type ChildSpec, type RunningChild, signalProcess, SpawnError } from './child.js';
import { pipeReader } from './pipe-reader.js';
import { closeFds, openPipes, type Pipe } from './pipes.js';
import type { ChildExits } from './child-exits.js';
import { exitStatus } from './signals.js';

export async function spawnWithPipes(spec: ChildSpec, logger: Logger, exits: ChildExits): Promise<RunningChild> {
  let native: PosixAddon;
  try {
    native = posix();
  } catch (err) {
    logger.warn('app output goes through socket pairs, not pipes: the native addon did not load', {
      error: (err as Error).message,
    });
    return spawnWithChildProcess(spec, exits);
  }
  return spawnNative(native, spec, exits);
}

function spawnNative(native: PosixAddon, spec: ChildSpec, exits: ChildExits): RunningChild {
  const envp = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
  const cwd = spec.cwd === process.cwd() ? null : spec.cwd;
  const [out, err] = openPipes(native, 2) as [Pipe, Pipe];
  let pid: number;
  try {
    pid = startOrExplain(native, spec, envp, cwd, out[1], err[1]);
  } catch (e) {
    closeFds([out[0], err[0]]);
    throw e;
  } finally {
    // The child has its copies of the write ends; ours would hold its output open forever.
    closeFds([out[1], err[1]]);
  }
  // We wait for it ourselves (the dispatcher's poll keeps us waiting even when its output
  // closed long before it exits).
  const exited = new Promise<number>((resolve) => {
    exits.reap(pid, {
      wait: (p, keep) => native.waitChild(p, keep),
      onExit: (status) => resolve(exitStatus(status.code, status.signal)),
    });
  });
  return {
    pid,
    exited,
    stdout: pipeReader(out[0], out[2]),
    stderr: pipeReader(err[0], err[2]),
    kill: (signal, toGroup) => signalProcess(pid, signal, toGroup),
  };
}

/** posix_spawn, with execvp's fallback for a script without a #! line; errors as SpawnError. */
function startOrExplain(
  native: PosixAddon,
  spec: ChildSpec,
  envp: string[],
  cwd: string | null,
  outFd: number,
  errFd: number,
): number {
  try {
    return native.spawn(spec.file, [spec.command, ...spec.args], envp, cwd, outFd, errFd);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === constants.errno.ENOEXEC) {
      return native.spawn('/bin/sh', ['/bin/sh', spec.file, ...spec.args], envp, cwd, outFd, errFd);
    }
    if (errno === undefined) throw e;
    const exitCode = errno === constants.errno.ENOENT ? 127 : 126;
    throw new SpawnError(`${spec.command}: ${(e as Error).message.replace(`${spec.file}: `, '')}`, exitCode);
  }
}

/** The fallback: libuv's stdio pipes are socket pairs, so /dev/stdout and SIGPIPE differ. */
function spawnWithChildProcess(spec: ChildSpec, exits: ChildExits): Promise<RunningChild> {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  return new Promise((resolve, reject) => {
    const cp = spawn(spec.file, spec.args, {
      argv0: spec.command,
      env: spec.env,
      cwd: spec.cwd,
      stdio: ['inherit', 'pipe', 'pipe'],
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
      stdout: cp.stdout!,
      stderr: cp.stderr!,
      kill: (signal, toGroup) => signalProcess(pid, signal, toGroup),
    });
  });
}
