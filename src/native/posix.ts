// Typed access to native/posix.c (loaded on first use).
import type { LineEncoder } from '../logs/queue.js';
import { loadNative } from './load.js';

export interface PosixAddon {
  /**
   * posix_spawn in a new session, default signal dispositions, stdout/stderr on the given fds
   * (1 and 2 themselves: ours, inherited, a closed one staying closed), stdin on `stdinFd` when given (≥ 3), else ours; returns the pid. Throws an Error with
   * `errno` when the command cannot be started.
   */
  spawn(file: string, argv: string[], envp: string[], cwd: string | null, stdoutFd: number, stderrFd: number, stdinFd?: number): number;
  /** spawn's other way, by fork and by hand, which it takes itself on glibc 2.28 (no addchdir_np). */
  spawnForked(file: string, argv: string[], envp: string[], cwd: string | null, stdoutFd: number, stderrFd: number, stdinFd?: number): number;
  /**
   * waitid(pid, WNOHANG): null while it runs, else how it ended, and it is reaped; with `keep`
   * (WNOWAIT) it stays a zombie, its pid still ours, until a call without it.
   */
  waitChild(pid: number, keep?: boolean): { code: number | null; signal: number | null } | null;
  isatty(fd: number): boolean;
  /** A real pipe, [readFd, writeFd, capacity in bytes (1 MiB where allowed)], both close-on-exec. */
  pipe(): [number, number, number];
  /** A pipe we read raised to 1 MiB where allowed; its capacity, -1 when `fd` is no pipe. */
  widenPipe(fd: number): number;
  /** Waits for our zombie children whose pid is not in `owned`; returns how many. */
  reapOrphans(owned: Int32Array): number;
  /** prctl(PR_SET_CHILD_SUBREAPER); false when refused. */
  setChildSubreaper(): boolean;
  /** Clears OPOST on a terminal; false when `fd` is not one. */
  disableOutputPostProcessing(fd: number): boolean;
  /**
   * unsetenv(name), and every `name=value` string of the environment block the kernel gave us
   * (what /proc/<pid>/environ shows) overwritten with zero bytes; returns how many, -1 when
   * that block could not be found.
   */
  eraseEnv(name: string): number;
  /**
   * Relays `fromFd` to `toFd` on a thread of its own (native/relay.c), which owns and closes
   * `fromFd`; a copy of what passed, in batches, to `onBatch` on this thread, up to
   * `copyLimitBytes` waiting (past it, the copy is dropped and counted until the batch is
   * taken). A batch is buffer[0, length), valid during the call only: the relay fills that
   * buffer again afterwards. Returns the relay's handle, for relayBusy.
   */
  relay(
    fromFd: number,
    toFd: number,
    copyLimitBytes: number,
    onBatch: (buffer: Buffer | null, length: number, gapBytes: number, gapLines: number, gapMidLine: boolean, ended: boolean, errno: number) => void,
  ): unknown;
  /**
   * Whether the relay holds bytes it is still writing (its reader is slow), or a batch of them
   * not yet handed to JavaScript: not idle either way.
   */
  relayBusy(handle: unknown): boolean;
  /**
   * Bytes that went to our output so far by splice (no copy) and by write (the relay's
   * fallback), and the reads of the app's pipe that took them (each a wake-up of the thread).
   */
  relayStats(handle: unknown): { spliced: number; written: number; reads: number };
  /** Log capture's bulk line encoder (native/lines.c; LogQueue.pushLines). */
  encodeLines: LineEncoder;
}

export function posix(): PosixAddon {
  return loadNative<PosixAddon>('posix');
}

/** isatty(3), from the addon (Node's tty module costs start-up time), else from Node. */
export function isTerminal(fd: number): boolean {
  try {
    return posix().isatty(fd);
  } catch {
    return (require('node:tty') as typeof import('node:tty')).isatty(fd);
  }
}
