// An exec command on pipes: stdin, stdout and stderr each a real pipe of its own (stdout and
// stderr never mixed), started by posix_spawn in a new session with default signal
// dispositions (native/spawn.c), or by child_process (socket pairs) when the addon is missing.
import { Socket } from 'node:net';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { PosixAddon } from '../native/posix.js';
import { EXEC_ERROR_CODE } from '../protocol/exec-status.js';
import { pipeReader } from '../supervisor/pipe-reader.js';
import { closeFds, openPipes, type Pipe } from '../supervisor/pipes.js';
import { exitStatus } from '../supervisor/signals.js';
import { errnoCode } from './errors.js';
import { SessionLeader } from './kill.js';
import { type ExecHost, type ExecProcess, type ExecSpec, ExecStartError } from './process.js';
import { MAX_OUTPUT_CHUNK, OUTPUT_HEADROOM } from './wire.js';

export function spawnPipes(spec: ExecSpec, host: ExecHost): ExecProcess {
  let native: PosixAddon | undefined;
  try {
    native = host.posix();
  } catch {
    native = undefined; // child_process below
  }
  return native ? spawnNative(native, spec, host) : spawnChildProcess(spec, host);
}

function spawnNative(native: PosixAddon, spec: ExecSpec, host: ExecHost): ExecProcess {
  const envp = Object.entries(spec.env).map(([name, value]) => `${name}=${value}`);
  const cwd = spec.cwd === process.cwd() ? null : spec.cwd;
  const [input, out, err] = openPipes(native, 3) as [Pipe, Pipe, Pipe];
  let pid: number;
  try {
    pid = spawnOrExplain(native, spec, envp, cwd, input[0], out[1], err[1]);
  } catch (e) {
    closeFds([input[1], out[0], err[0]]);
    throw e;
  } finally {
    // The child has its copies; ours would keep its stdin from ever ending and its output open.
    closeFds([input[0], out[1], err[1]]);
  }
  // We alone reap it (the orphan reaper leaves owned pids alone): until we do, its pid names its
  // session and nothing else.
  const leader = new SessionLeader(pid);
  let gone = false;
  const exited = new Promise<number>((resolve) => {
    host.exits.reap(pid, {
      wait: (p, keep) => native.waitChild(p, keep),
      // Exited but left a zombie: what it left behind goes with it, while its pid is still held
      // by the zombie and names its session; then it is reaped.
      whileZombie: () => leader.killSession(true),
      onExit: (status) => {
        gone = true;
        resolve(exitStatus(status.code, status.signal));
      },
    });
  });
  // libuv makes its end non-blocking; the child's end (another open file) stays as it was.
  const stdin = new Socket({ fd: input[1], readable: false, writable: true });
  // Until we reap it (gone) it is certainly unreaped.
  const kill = () => leader.killSession(!gone);
  // Each read is one output message: its header goes in front of it, the bytes are not copied.
  const framed = { maxRead: MAX_OUTPUT_CHUNK, headroom: OUTPUT_HEADROOM };
  const proc = processOn(pid, stdin, pipeReader(out[0], out[2], framed), pipeReader(err[0], err[2], framed), exited, kill);
  return { ...proc, framedOutput: true };
}

/** posix_spawn, with execvp's fallback for a script without a #! line. */
function spawnOrExplain(
  native: PosixAddon,
  spec: ExecSpec,
  envp: string[],
  cwd: string | null,
  inFd: number,
  outFd: number,
  errFd: number,
): number {
  try {
    return native.spawn(spec.file, [spec.command, ...spec.args], envp, cwd, outFd, errFd, inFd);
  } catch (e) {
    const errno = (e as { errno?: number }).errno;
    if (errno === constants.errno.ENOEXEC) {
      return native.spawn('/bin/sh', ['/bin/sh', spec.file, ...spec.args], envp, cwd, outFd, errFd, inFd);
    }
    throw new ExecStartError(`${spec.command}: ${(e as Error).message.replace(`${spec.file}: `, '')}`, errnoCode(errno));
  }
}


/** The fallback: libuv's stdio "pipes" are socket pairs; detached is its setsid. */
function spawnChildProcess(spec: ExecSpec, host: ExecHost): ExecProcess {
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  const cp = spawn(spec.file, spec.args, {
    argv0: spec.command,
    env: spec.env,
    cwd: spec.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  if (cp.pid === undefined) {
    // Resolved beforehand, so this is a race with the file system or a resource limit.
    cp.once('error', () => {});
    throw new ExecStartError(`${spec.command}: cannot be started`, EXEC_ERROR_CODE.INTERNAL);
  }
  const pid = cp.pid;
  // libuv reaps it, and reports the exit after that: its pid may then name someone else's
  // session. The leader knows what may still be killed (kill.ts); it is looked at on every
  // SIGCHLD (and every second) until then, and its session killed if it is seen a zombie.
  const leader = new SessionLeader(pid);
  const release = host.exits.watch(pid, () => {
    if (leader.look() === 'zombie') leader.killSession();
  });
  const exited = new Promise<number>((resolve) => {
    cp.once('exit', (code, signal) => {
      release();
      leader.markReaped();
      leader.killSession(); // unless done above: only what is provably of its session
      resolve(exitStatus(code, signal));
    });
  });
  return { ...processOn(pid, cp.stdin!, cp.stdout!, cp.stderr!, exited, () => leader.killSession()), framedOutput: false };
}

function processOn(
  pid: number,
  stdin: Writable,
  stdout: Readable,
  stderr: Readable,
  exited: Promise<number>,
  killSession: () => void,
): Omit<ExecProcess, 'framedOutput'> {
  // A process that stopped reading (exited, closed its stdin): what is still sent is dropped.
  stdin.on('error', () => stdin.destroy());
  // Once it exited (and the rest of its session was killed) no one reads it: close our end.
  void exited.then(() => stdin.destroy());
  return {
    pid,
    stdout,
    stderr,
    exited,
    write: (data) => (stdin.destroyed || stdin.writableEnded ? true : stdin.write(data)),
    onceDrain: (callback) => {
      if (stdin.destroyed || !stdin.writableNeedDrain) return callback();
      const done = () => {
        stdin.off('drain', done);
        stdin.off('close', done);
        callback();
      };
      stdin.on('drain', done);
      stdin.on('close', done);
    },
    endInput: () => {
      if (!stdin.destroyed && !stdin.writableEnded) stdin.end();
    },
    resize: () => {},
    kill: () => {
      // Once per session: a kill before the exit is the kill at the exit too.
      killSession();
      stdin.destroy();
    },
  };
}
