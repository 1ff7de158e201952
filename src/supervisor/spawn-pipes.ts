// The app on pipes: stdin is its own (inherited, so EOF and terminal checks behave as without
// us), stdout and stderr are real pipes to us. Started by the posix addon (posix_spawn, see
// native/spawn.c), or by child_process if that addon cannot be loaded.
import { constants } from 'node:os';
import type { Logger } from '../log.js';
import { posix, type PosixAddon } from '../native/posix.js';
import { type ChildSpec, type RunningChild, signalProcess, SpawnError } from './child.js';
import { pipeReader } from './pipe-reader.js';
import { closeFds, openPipes, type Pipe } from './pipes.js';
import { disownPid, ownPid } from './reaper.js';
import { exitStatus } from './signals.js';

const EXIT_POLL_MS = 1000;

export async function spawnWithPipes(spec: ChildSpec, logger: Logger): Promise<RunningChild> {
  let native: PosixAddon;
  try {
    native = posix();
  } catch (err) {
    logger.warn('app output goes through socket pairs, not pipes: the native addon did not load', {
      error: (err as Error).message,
    });
    return spawnWithChildProcess(spec);
  }
  return spawnNative(native, spec);
}

function spawnNative(native: PosixAddon, spec: ChildSpec): RunningChild {
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
  ownPid(pid);
  const exited = new Promise<number>((resolve) => {
    // Signal listeners do not keep Node's loop alive, and the output pipes may close before the
    // exit is seen: this timer keeps us waiting for the status, and polls in case a SIGCHLD
    // went astray.
    const poll = setInterval(() => check(), EXIT_POLL_MS);
    const check = () => {
      const status = native.waitChild(pid);
      if (status === null) return;
      process.off('SIGCHLD', check);
      clearInterval(poll);
      disownPid(pid);
      resolve(exitStatus(status.code, status.signal));
    };
    process.on('SIGCHLD', check);
    check(); // it may be gone already, before the listener was there
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
function spawnWithChildProcess(spec: ChildSpec): Promise<RunningChild> {
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
