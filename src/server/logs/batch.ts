// One received EntrypointLogBatch as the server keeps it: the message's own bytes plus, per line,
// where its text is and its timestamp and source, in one flat array. Nothing is made per line
// on arrival: a line's text becomes a string only when someone reads it (logs, a follower), and
// of a million lines a second all but the last 10 000 are never read.

export type LogSource = 'app' | 'entrypoint';

/** Per line, in `cols`: text start, text end, seconds (NaN: no timestamp), nanos, source. */
export const STRIDE = 5;
const SOURCE_ENTRYPOINT = 1;

export class LogBatchLines {
  constructor(
    readonly instanceId: string,
    /** The message; the lines' text are ranges of it. */
    private bytes: Buffer,
    readonly count: number,
    private readonly cols: Float64Array,
    /** Bytes of text of all lines together. */
    readonly textBytes: number,
  ) {}

  /** Line i's text, one trailing newline already cut off (decoded now, invalid UTF-8 replaced). */
  line(i: number): string {
    const c = i * STRIDE;
    return this.bytes.toString('utf8', this.cols[c], this.cols[c + 1]);
  }

  /** Bytes of line i's text. */
  lineBytes(i: number): number {
    const c = i * STRIDE;
    return this.cols[c + 1] - this.cols[c];
  }

  /** Whether line i came with a timestamp; seconds and nanos are 0 when not. */
  hasTimestamp(i: number): boolean {
    return !Number.isNaN(this.cols[i * STRIDE + 2]);
  }

  seconds(i: number): number {
    const s = this.cols[i * STRIDE + 2];
    return Number.isNaN(s) ? 0 : s;
  }

  nanos(i: number): number {
    return this.cols[i * STRIDE + 3];
  }

  /** Any value but ENTRYPOINT counts as the app's, as an unknown enum value would decode. */
  source(i: number): LogSource {
    return this.cols[i * STRIDE + 4] === SOURCE_ENTRYPOINT ? 'entrypoint' : 'app';
  }

  /**
   * Kept for a while (the ring): what stays in memory must be what the ring counts. A message
   * whose bytes are mostly not text (unknown fields, padding: H5) has its lines copied out, so
   * one kept line never holds a whole 4 MiB message; a small message that is a view of a larger
   * shared buffer (Node's 8 KiB pool) is copied to its own, so it does not keep the pool alive.
   */
  detach(): void {
    const b = this.bytes;
    if (b.length - this.textBytes > this.count * MAX_FRAMING_PER_LINE + MAX_FRAMING_PER_BATCH) this.copyLinesOut();
    else if (b.buffer.byteLength > 2 * b.length) {
      const own = Buffer.allocUnsafeSlow(b.length);
      b.copy(own);
      this.bytes = own;
    }
  }

  /** Bytes this batch holds in memory: its buffer (all of it, shared or not) and its columns. */
  retainedBytes(): number {
    return this.bytes.buffer.byteLength + this.cols.byteLength;
  }

  /** Keeps only the lines' text, back to back in a buffer of its own; the message goes. */
  private copyLinesOut(): void {
    const own = Buffer.allocUnsafeSlow(this.textBytes);
    let at = 0;
    for (let c = 0; c < this.count * STRIDE; c += STRIDE) {
      const start = this.cols[c];
      const end = this.cols[c + 1];
      this.bytes.copy(own, at, start, end);
      this.cols[c] = at;
      at += end - start;
      this.cols[c + 1] = at;
    }
    this.bytes = own;
  }
}

/**
 * Bytes of a message beyond its lines' text kept as they are: an entry's tags, lengths,
 * timestamp, source and the newline cut off take about 20 per line; the instance id and the
 * batch's own tags, a few hundred at most. More than that is waste, and is not kept.
 */
const MAX_FRAMING_PER_LINE = 32;
const MAX_FRAMING_PER_BATCH = 512;

/** A message that is not a valid EntrypointLogBatch: why, for the INVALID_ARGUMENT. */
export class MalformedLogBatch {
  constructor(readonly reason: string) {}
}
