// Our side of one of the app's output pipes, read in gulps. A reader always waiting on the pipe
// is woken by every write of the app (a million wake-ups for a million short lines, each paid
// by the app too). Instead, after a read that emptied the pipe we rest a moment and let the
// app's writes pile up in it (1 MiB, see native/posix.c), then take them in one read. The rest
// is short enough that output still reaches our stdout at once, as far as a person can tell.
import { Socket } from 'node:net';
import { Readable } from 'node:stream';

/** How long to rest after the pipe was emptied. */
export const PACE_MS = 1;
/** Below this capacity the app would fill the pipe while we rest, and block: no resting. */
const PACED_PIPE_BYTES = 512 * 1024;
const READ_BYTES = 1024 * 1024;
/** A slab is replaced when less than this is left of it for the next read. */
const MIN_READ_BYTES = 64 * 1024;

export interface FramedReads {
  /** The most one read takes (one chunk). */
  maxRead: number;
  /**
   * Bytes left free before each chunk in its buffer, for the reader of the chunk to write a
   * message header into: the chunk and its header are then one message, without a copy.
   */
  headroom: number;
}

export function pipeReader(fd: number, capacity: number, framed?: FramedReads): Readable {
  const paced = capacity >= PACED_PIPE_BYTES;
  const headroom = framed?.headroom ?? 0;
  const maxRead = framed?.maxRead ?? READ_BYTES;
  // Reads land in a slab, one after the other, and what goes on is a view of it: no copy. The
  // slab is made at the first read, not before: start-up (a budget) does not pay for it.
  let slab: Buffer | undefined;
  let used = 0;
  let resting = false;
  let wanted = true;
  let socket: Socket; // eslint-disable-line prefer-const -- the Readable refers to it first
  const readable = new Readable({
    highWaterMark: READ_BYTES,
    read() {
      wanted = true;
      if (!resting) socket.resume();
    },
    destroy(err, done) {
      socket.destroy();
      done(err);
    },
  });
  // `onread` (read straight into our buffer, pausing at once when asked) is a Socket option
  // that @types/node lists only for connect().
  socket = new Socket({
    fd,
    readable: true,
    writable: false,
    onread: {
      buffer: () => {
        if (!slab || slab.length - used < headroom + Math.min(MIN_READ_BYTES, maxRead)) {
          slab = Buffer.allocUnsafe(READ_BYTES);
          used = 0;
        }
        return slab.subarray(used + headroom, used + headroom + maxRead);
      },
      callback(n: number, buf: Uint8Array) {
        const chunk = (buf as Buffer).subarray(0, n);
        used += headroom + n;
        if (!readable.push(chunk)) {
          wanted = false;
          return false; // paused until the relay reads again
        }
        if (paced && n < buf.length) {
          resting = true;
          setTimeout(() => {
            resting = false;
            if (wanted) socket.resume();
          }, PACE_MS);
          return false;
        }
        return true;
      },
    },
  } as ConstructorParameters<typeof Socket>[0]);
  socket.on('end', () => readable.push(null));
  socket.on('error', (err) => readable.destroy(err));
  return readable;
}
