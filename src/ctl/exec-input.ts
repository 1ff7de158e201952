// The ctl's stdin for a non-terminal exec session. A pipe or a socket is read by pipeReader in
// reads of up to 1 MiB with room before each for the input message's header (one message per
// read, no copy); a pipe is first widened to 1 MiB, so that its writer fills it while we send and
// one read takes it all. Node's own stdin reads at most 64 KiB at a time: 16 messages per MB,
// each costing the ctl, the server and the entrypoint a fixed amount of work (issue 17). A file,
// a terminal or an unknown stdin is read by Node as before.
import { fstatSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { posix } from '../native/posix.js';
import { pipeReader } from '../supervisor/pipe-reader.js';
import { INPUT_HEADROOM, MAX_INPUT_CHUNK } from './exec-wire.js';

export interface StdinSource {
  stream: Readable;
  /** Every chunk has INPUT_HEADROOM free bytes before it in its buffer (encodeInputInPlace). */
  framed: boolean;
}

export function stdinSource(): StdinSource {
  let kind: 'fifo' | 'socket' | undefined;
  try {
    const st = fstatSync(0);
    kind = st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : undefined;
  } catch {
    kind = undefined; // closed: Node's stdin says so in its own way (an empty input)
  }
  if (!kind) return { stream: process.stdin, framed: false };
  // A socket's capacity is its buffer's, not a pipe's: no resting between reads (pipeReader).
  const capacity = kind === 'fifo' ? widened(0) : 0;
  return { stream: pipeReader(0, capacity, { maxRead: MAX_INPUT_CHUNK, headroom: INPUT_HEADROOM }), framed: true };
}

/** The pipe's capacity after widening it; a pipe's default when the addon is missing. */
function widened(fd: number): number {
  try {
    return posix().widenPipe(fd);
  } catch {
    return 64 * 1024;
  }
}
