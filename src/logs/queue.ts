// The lines waiting to be shipped, already encoded as EntrypointLogBatch messages (wire.ts):
// an open batch being filled, and sealed batches ready to send. Bounded in bytes: when full,
// the oldest batches are dropped and their lines counted; the next batch taken is then preceded
// by one marker line (source ENTRYPOINT) saying how many were lost. The bound is set by the
// shipper: WAYPOINT_CEB_LOG_BUFFER while disconnected (the backlog sent on reconnect), more
// while connected (a burst the server takes a moment to catch up with). Either way the app
// never waits for the server and our memory never grows with it.
import { FRAME_HEADER, markFramable } from '../protocol/framed-sends.js';
import { entrySize, instanceIdField, Source, timestampField, writeEntry } from './wire.js';
import { isUtf8 } from './utf8.js';

export interface Batch {
  /** One complete EntrypointLogBatch message. */
  bytes: Buffer;
  lines: number;
  /** Time of its first line (ms since the epoch). */
  firstMs: number;
  /** A drop marker: how many lines it reports lost. */
  marks?: number;
}

export interface LogQueueOptions {
  instanceId: string;
  /** Most bytes held (encoded), sealed and open batches together, at first (see setCapacity). */
  capacityBytes: number;
  /** A batch is sealed once it holds this many bytes (default: 128 KiB, less for a small capacity). */
  batchBytes?: number;
  /** A batch was sealed and can be taken. */
  onReady?: () => void;
  /** The oldest lines were just dropped (called from inside push/seal: must not push back). */
  onDrop?: (lines: number) => void;
  /** The addon's bulk encoder (native/lines.c), for pushLines; without it lines go one by one. */
  encodeLines?: LineEncoder;
}

/** native/lines.c's encodeLines: see there. */
export type LineEncoder = (
  src: Buffer,
  start: number,
  end: number,
  timestamp: Buffer,
  source: number,
  out: Buffer,
  outPos: number,
  stopAt: number,
  maxLine: number,
  state: Float64Array,
) => number;

interface OpenBatch {
  buf: Buffer;
  pos: number;
  lines: number;
  firstMs: number;
}

const DEFAULT_BATCH_BYTES = 128 * 1024;
const MIN_BATCH_BYTES = 1024;
/**
 * Room past batchBytes for the entry that fills a batch. A longer one that does not fit starts
 * a batch of its own size instead.
 */
const ENTRY_SLACK = 4 * 1024;
/** Free batch buffers kept (each batchBytes and the slack). */
const MAX_SPARES = 4;

export class LogQueue {
  private readonly sealed: Batch[] = [];
  private sealedBytes = 0;
  /**
   * The batch being filled, in a buffer of its own: once full it is sent as it is (a view of
   * it, no copy); one sealed early (the timer) is copied to its size, not to hold the rest.
   */
  private open?: OpenBatch;
  /**
   * Buffers to fill the next batches in: of batches copied out, and of batches dropped before
   * they were taken (a burst the server cannot keep up with drops most of what it fills).
   */
  private readonly spares: Buffer[] = [];
  /** Sealed batches that are views of their own buffer, never taken: theirs is reusable once dropped. */
  private readonly buffers = new WeakMap<Batch, Buffer>();
  private readonly idField: Buffer;
  private readonly batchBytes: number;
  private droppedLines = 0;
  /** Some of droppedLines were missed by capture, not dropped by the queue: the marker says so. */
  private missedSinceMarker = false;
  private capacity: number;
  private timestamp: { ms: number; field: Buffer } = { ms: -1, field: Buffer.alloc(0) };
  /** pushLines' out-parameters from the addon: [next in the source, next in the batch]. */
  private readonly encodeState = new Float64Array(2);
  /** Lines dropped since the process started (for tests and a last report). */
  totalDropped = 0;

  constructor(private readonly options: LogQueueOptions) {
    this.idField = instanceIdField(options.instanceId);
    this.capacity = options.capacityBytes;
    this.batchBytes = options.batchBytes ?? Math.max(MIN_BATCH_BYTES, Math.min(DEFAULT_BATCH_BYTES, Math.floor(options.capacityBytes / 8)));
  }

  /** Bytes held, encoded. */
  get bytes(): number {
    return this.sealedBytes + (this.open?.pos ?? 0);
  }

  /** Lines held, not yet taken (markers aside). */
  get pendingLines(): number {
    let lines = this.open?.lines ?? 0;
    for (const batch of this.sealed) lines += batch.lines;
    return lines;
  }

  /** Whether pushLines takes lines in bulk (the addon is there). */
  get bulk(): boolean {
    return this.options.encodeLines !== undefined;
  }

  /** The bound now, in bytes. */
  get capacityBytes(): number {
    return this.capacity;
  }

  /** A new bound; what is over it goes at once, oldest first. */
  setCapacity(bytes: number): void {
    this.capacity = bytes;
    this.dropOldest();
  }

  get dropped(): number {
    return this.droppedLines;
  }

  get empty(): boolean {
    return this.sealed.length === 0 && !this.open?.lines && this.droppedLines === 0;
  }

  /** Adds line[start, end) (valid: known to be UTF-8 already), timestamped `ms`. */
  push(line: Buffer, start: number, end: number, valid: boolean, source: Source, ms: number): void {
    if (!valid) {
      const bytes = line.subarray(start, end);
      if (!isUtf8(bytes)) {
        line = Buffer.from(bytes.toString('utf8'), 'utf8');
        start = 0;
        end = line.length;
      }
    }
    const ts = this.timestampField(ms);
    const size = entrySize(ts, end - start, source);
    let open = this.open;
    if (!open || open.pos + size > open.buf.length) open = this.openBatch(size, ms);
    open.pos = writeEntry(open.buf, open.pos, ts, line, start, end, source);
    open.lines++;
    if (open.pos >= this.batchBytes) this.seal();
    else if (this.bytes > this.capacity) this.dropOldest();
  }

  /**
   * Adds the complete lines of buf[start, end) (each with its "\n") in bulk, through the addon,
   * as long as each is plain: at most maxLine bytes and valid UTF-8. Returns where it stopped:
   * at `end`, at a partial line, or at a line the caller then gives to push (or cuts in pieces).
   */
  pushLines(buf: Buffer, start: number, end: number, maxLine: number, source: Source, ms: number): number {
    const encode = this.options.encodeLines;
    if (!encode) return start;
    const ts = this.timestampField(ms);
    const state = this.encodeState;
    while (start < end) {
      const open = this.open ?? this.openBatch(0, ms);
      open.lines += encode(buf, start, end, ts, source, open.buf, open.pos, this.batchBytes, maxLine, state);
      start = state[0];
      open.pos = state[1];
      // Stopped at a full batch: seal it and go on. Else at a line it does not take, or the end.
      if (open.pos >= this.batchBytes) {
        this.seal();
        continue;
      }
      if (this.bytes > this.capacity) this.dropOldest();
      break;
    }
    return start;
  }

  pushText(text: string, source: Source, ms: number): void {
    const bytes = Buffer.from(text, 'utf8');
    this.push(bytes, 0, bytes.length, true, source, ms);
  }

  /** Closes the open batch (a flush timer, a flush at exit). */
  seal(): void {
    const open = this.open;
    if (!open || open.lines === 0) return;
    this.open = undefined;
    // What waits in the queue holds little slack: a batch much smaller than its buffer is copied.
    let bytes = open.buf.subarray(0, open.pos);
    if (open.buf.length - open.pos > open.buf.length / 8) {
      bytes = batchBuffer(open.pos);
      open.buf.copy(bytes, 0, 0, open.pos);
      this.reuse(open.buf);
    }
    // Room in front of every batch: it is sent with its frame header written there, no copy.
    const batch = { bytes: markFramable(bytes), lines: open.lines, firstMs: open.firstMs };
    if (bytes.buffer === open.buf.buffer) this.buffers.set(batch, open.buf);
    this.sealed.push(batch);
    this.sealedBytes += batch.bytes.length;
    this.dropOldest();
    this.options.onReady?.();
  }

  /** The oldest sealed batch, after the drop marker if lines were lost. */
  take(): Batch | undefined {
    if (this.droppedLines > 0) {
      const n = this.droppedLines;
      this.droppedLines = 0;
      return this.marker(n, this.sealed[0]?.firstMs ?? this.open?.firstMs ?? Date.now());
    }
    const batch = this.sealed.shift();
    if (!batch) return undefined;
    this.sealedBytes -= batch.bytes.length;
    this.buffers.delete(batch); // the stream has it now
    return batch;
  }

  /**
   * Lines capture missed (it fell behind the app's output, which lost nothing): counted and
   * marked like the ones the queue drops.
   */
  dropMissed(lines: number): void {
    if (lines <= 0) return;
    this.missedSinceMarker = true;
    this.count(lines);
  }

  /** Puts batches back at the front (a stream refused them), within the bound. */
  requeue(batches: Batch[]): void {
    for (let i = batches.length - 1; i >= 0; i--) {
      if (batches[i].marks) {
        this.droppedLines += batches[i].marks!; // a marker is made again at the next take
        continue;
      }
      this.sealed.unshift(batches[i]);
      this.sealedBytes += batches[i].bytes.length;
    }
    this.dropOldest();
  }

  private dropOldest(): void {
    let lines = 0;
    while (this.bytes > this.capacity && this.sealed.length > 0) {
      const batch = this.sealed.shift()!;
      this.sealedBytes -= batch.bytes.length;
      lines += batch.lines;
      const buf = this.buffers.get(batch);
      if (buf) this.reuse(buf);
    }
    if (lines === 0) return;
    this.count(lines);
  }

  private count(lines: number): void {
    this.droppedLines += lines;
    this.totalDropped += lines;
    this.options.onDrop?.(lines);
  }

  private marker(lines: number, ms: number): Batch {
    const why = this.missedSinceMarker ? ' or log capture fell behind the app' : '';
    this.missedSinceMarker = false;
    const text = `waypoint-entrypoint: ${lines} log line${lines === 1 ? ' was' : 's were'} dropped: the log queue (${this.capacity} bytes) was full${why}\n`;
    const line = Buffer.from(text, 'utf8');
    const ts = timestampField(ms);
    const buf = Buffer.allocUnsafe(this.idField.length + entrySize(ts, line.length, Source.ENTRYPOINT));
    let pos = this.idField.copy(buf, 0);
    pos = writeEntry(buf, pos, ts, line, 0, line.length, Source.ENTRYPOINT);
    return { bytes: buf.subarray(0, pos), lines: 0, firstMs: ms, marks: lines };
  }

  /** Seals the open batch, and opens one with room for an entry of `size` bytes. */
  private openBatch(size: number, ms: number): OpenBatch {
    this.seal();
    const room = Math.max(this.batchBytes + ENTRY_SLACK, this.idField.length + size);
    const buf = this.spares.length > 0 && room <= this.batchBytes + ENTRY_SLACK ? this.spares.pop()! : batchBuffer(room);
    const open = (this.open = { buf, pos: 0, lines: 0, firstMs: ms });
    open.pos = this.idField.copy(open.buf, 0);
    return open;
  }

  /** A batch's buffer, free again: kept for the next batches unless a giant's or enough are. */
  private reuse(buf: Buffer): void {
    if (buf.length === this.batchBytes + ENTRY_SLACK && this.spares.length < MAX_SPARES) this.spares.push(buf);
  }

  /** The encoded timestamp, shared by every line of the same millisecond. */
  private timestampField(ms: number): Buffer {
    if (this.timestamp.ms !== ms) this.timestamp = { ms, field: timestampField(ms) };
    return this.timestamp.field;
  }
}

/**
 * A batch's buffer, with FRAME_HEADER bytes of its own in front: grpc-js frames every message
 * it sends into a new buffer (an allocation and a copy of each batch, and the garbage of a
 * burst); a batch marked framable goes out as it is, its header written there (framed-sends.ts).
 */
function batchBuffer(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size + FRAME_HEADER).subarray(FRAME_HEADER);
}
