// Several pipes at once, for a spawn (the app's in spawn-pipes.ts, an exec's in
// src/exec/pipe-runner.ts): all of them or none, so that an EMFILE on the last one leaks none of
// the others. Pure functions, safe to bundle into both the main bundle and the connection chunk.
import { closeSync } from 'node:fs';
import type { PosixAddon } from '../native/posix.js';

export type Pipe = [readFd: number, writeFd: number, capacity: number];

/** Closes every fd given, going on past one that fails (none should). */
export function closeFds(fds: Iterable<number>): void {
  for (const fd of fds) {
    try {
      closeSync(fd);
    } catch {
      // already closed: nothing to release
    }
  }
}

/** `count` pipes from the addon; when one cannot be made, the ones already made are closed. */
export function openPipes(native: Pick<PosixAddon, 'pipe'>, count: number): Pipe[] {
  const pipes: Pipe[] = [];
  try {
    for (let i = 0; i < count; i++) pipes.push(native.pipe());
  } catch (err) {
    closeFds(pipes.flatMap(([readFd, writeFd]) => [readFd, writeFd]));
    throw err;
  }
  return pipes;
}
