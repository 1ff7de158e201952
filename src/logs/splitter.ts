// One output stream cut into lines, each passed on with its "\n" (Waypoint's server strips it).
// Memory stays bounded whatever the app writes: a line longer than MAX_LINE_BYTES goes out in
// pieces of at most that size, and a partial line (no newline yet) waits in a fixed buffer
// until its newline comes, it fills up, or the caller flushes it (timed flush, end of stream).
// Lines are handed over as ranges of the chunk or of our buffer, valid only during the call:
// no allocation per line.
import { isUtf8, utf8Boundary } from './utf8.js';

export const MAX_LINE_BYTES = 64 * 1024;
const NEWLINE = 0x0a;

/** Receives one line: buf[start, end). `valid`: known to be valid UTF-8 already. */
export type LineSink = (buf: Buffer, start: number, end: number, valid: boolean) => void;
/**
 * Takes the complete lines of buf[start, end) it can in one go (LogQueue.pushLines), each of
 * at most maxLine bytes; returns where it stopped. The line there is the sink's, one by one.
 */
export type BulkLineSink = (buf: Buffer, start: number, end: number, maxLine: number) => number;

export class LineSplitter {
  /** The partial line; made at the first one (a stream may never have any). */
  private pendingBuffer?: Buffer;
  private pendingLength = 0;
  /** When the partial line began (the caller's clock), for its timed flush. */
  pendingSince = 0;
  /** After a gap that ended inside a line: its rest, up to the next newline, is not shipped. */
  private skipping = false;

  constructor(
    private readonly emit: LineSink,
    private readonly maxLine = MAX_LINE_BYTES,
    private readonly bulk?: BulkLineSink,
  ) {}

  private get pending(): Buffer {
    return (this.pendingBuffer ??= Buffer.allocUnsafe(this.maxLine));
  }

  get hasPartial(): boolean {
    return this.pendingLength > 0;
  }

  push(chunk: Buffer, now: number): void {
    const length = chunk.length;
    let start = 0;
    if (this.skipping) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl === -1) return;
      this.skipping = false;
      start = nl + 1;
      if (start === length) return;
      chunk = chunk.subarray(start);
      start = 0;
      return this.push(chunk, now);
    }
    if (this.pendingLength > 0) {
      const nl = chunk.indexOf(NEWLINE);
      const end = nl === -1 ? length : nl + 1;
      this.append(chunk, 0, end);
      if (nl === -1) return;
      if (this.pendingLength > 0) this.emitPending(this.pendingLength); // unless a full piece just took it
      start = end;
    }
    // Most chunks are valid UTF-8 through and through: check once, not per line. With the bulk
    // sink, the lines left to us are few and the sink checks each (false: not known to be).
    const valid = !this.bulk && isUtf8(chunk);
    for (;;) {
      if (this.bulk) start = this.bulk(chunk, start, length, this.maxLine);
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) break;
      if (nl + 1 - start > this.maxLine) this.emitPieces(chunk, start, nl + 1);
      else this.emit(chunk, start, nl + 1, valid);
      start = nl + 1;
    }
    if (start < length) {
      this.pendingSince = now;
      this.append(chunk, start, length);
    }
  }

  /** Sends the partial line as it is (cut between characters when possible). */
  flushPartial(): void {
    if (this.pendingLength === 0) return;
    const cut = utf8Boundary(this.pending, 0, this.pendingLength);
    this.emitPending(cut > 0 ? cut : this.pendingLength);
  }

  /**
   * Some of the stream was missed (capture fell behind; the lines are counted by the caller):
   * the partial line is part of a missed line, and so, when the gap ended inside a line, is
   * everything up to the next newline.
   */
  gap(midLine: boolean): void {
    this.pendingLength = 0;
    this.skipping = midLine;
  }

  /** End of stream: whatever is left goes out. */
  end(): void {
    if (this.pendingLength > 0) this.emitPending(this.pendingLength);
  }

  /** Adds chunk[from, to) to the partial line, sending full pieces as they fill up. */
  private append(chunk: Buffer, from: number, to: number): void {
    while (from < to) {
      const n = Math.min(this.maxLine - this.pendingLength, to - from);
      chunk.copy(this.pending, this.pendingLength, from, from + n);
      this.pendingLength += n;
      from += n;
      if (this.pendingLength === this.maxLine) {
        const cut = utf8Boundary(this.pending, 0, this.maxLine);
        this.emitPending(cut > 0 ? cut : this.maxLine);
      }
    }
  }

  /** Sends pending[0, n) and keeps the rest (at most 3 bytes of a cut character). */
  private emitPending(n: number): void {
    this.emit(this.pending, 0, n, false);
    const rest = this.pendingLength - n;
    if (rest > 0) this.pending.copy(this.pending, 0, n, this.pendingLength);
    this.pendingLength = rest;
  }

  /** A complete line too long for one piece, straight from the chunk. */
  private emitPieces(chunk: Buffer, start: number, end: number): void {
    while (end - start > this.maxLine) {
      let cut = utf8Boundary(chunk, start, start + this.maxLine);
      if (cut === start) cut = start + this.maxLine;
      this.emit(chunk, start, cut, false);
      start = cut;
    }
    this.emit(chunk, start, end, false);
  }
}
