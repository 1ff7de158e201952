// A Writable on one of our own output fds (1, 2), written with fs.write. process.stdout would
// make a pipe non-blocking (a flag shared with every other process writing to that pipe, which
// then meet EAGAIN), and costs start-up time; this writes as the fd is, one chunk at a time.
import { write, writev } from 'node:fs';
import { Writable } from 'node:stream';

/** How long to wait before retrying a non-blocking fd that is full. */
const EAGAIN_RETRY_MS = 5;

export class FdWriter extends Writable {
  constructor(private readonly fd: number) {
    super({ decodeStrings: true, highWaterMark: 64 * 1024 });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (err?: Error | null) => void): void {
    this.writeFrom(chunk, 0, done);
  }

  /** Chunks queued while a write was in flight go out in one system call. */
  override _writev(chunks: Array<{ chunk: Buffer }>, done: (err?: Error | null) => void): void {
    const buffers = chunks.map((c) => c.chunk);
    writev(this.fd, buffers, null, (err, written) => {
      if (err && (err as NodeJS.ErrnoException).code !== 'EAGAIN') return done(err);
      const total = buffers.reduce((n, b) => n + b.length, 0);
      if (err || written < total) this.writeFrom(Buffer.concat(buffers), err ? 0 : written, done);
      else done();
    });
  }

  private writeFrom(chunk: Buffer, offset: number, done: (err?: Error | null) => void): void {
    write(this.fd, chunk, offset, chunk.length - offset, null, (err, written) => {
      if (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') {
          setTimeout(() => this.writeFrom(chunk, offset, done), EAGAIN_RETRY_MS);
          return;
        }
        done(err); // EPIPE and the like: the reader is gone
        return;
      }
      if (offset + written < chunk.length) this.writeFrom(chunk, offset + written, done);
      else done();
    });
  }
}

let ours: { stdout: FdWriter; stderr: FdWriter } | undefined;

/** Our stdout and stderr as writers, created once. */
export function ourOutput(): { stdout: FdWriter; stderr: FdWriter } {
  if (!ours) {
    ours = { stdout: new FdWriter(1), stderr: new FdWriter(2) };
    // Each relay acts on an error while it runs (output.ts); one that surfaces after its relay
    // ended (a queued write meeting EPIPE) must not be an uncaught 'error' event.
    for (const writer of Object.values(ours)) writer.on('error', () => {});
  }
  return ours;
}
