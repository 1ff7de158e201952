// An instance's recent lines, kept as the batches they came in rather than a line at a time:
// bounded by lines and by bytes like a ring of lines (the oldest lines go first, the newest is
// always kept), but taking a batch costs the same whatever its length, and evicting a batch
// whose lines all went is one step. A batch partly evicted keeps its newer lines.
import type { LogBatchLines } from './batch.js';

/** Per line kept, beside its text: its place in the batch array and in the message. */
export const LINE_OVERHEAD_BYTES = 64;

interface Segment {
  batch: LogBatchLines;
  /** Its first line still kept. */
  first: number;
  /** Arrival order of its line 0 on this server; line i has seq0 + i. */
  seq0: number;
  /** When it arrived (ms since the epoch): the time of its lines that came without one. */
  arrivedMs: number;
  /** Weight of its lines still kept. */
  weight: number;
}

/** A kept line, in the order they came: its batch and index, with what the batch knows. */
export type LineVisitor = (batch: LogBatchLines, i: number, seq: number, arrivedMs: number) => void;

export class LineRing {
  /** Oldest first, from `head`: a queue without shifting the array at each eviction. */
  private segments: Segment[] = [];
  private head = 0;
  private lines = 0;
  private totalWeight = 0;

  constructor(
    readonly maxLines: number,
    readonly maxWeight: number = Infinity,
  ) {
    if (!Number.isInteger(maxLines) || maxLines < 1) throw new Error(`ring capacity must be a positive integer, got ${maxLines}`);
  }

  get length(): number {
    return this.lines;
  }

  /** Bytes counted for the lines kept: at least what they hold in memory. */
  get weight(): number {
    return this.totalWeight;
  }

  /** Evicts the oldest lines until at most `maxWeight` is kept (or only the newest line). */
  trimTo(maxWeight: number): number {
    return this.evict(Math.min(maxWeight, this.maxWeight));
  }

  /** Adds a batch (its lines seq0, seq0 + 1, ...); returns how many old lines were evicted. */
  push(batch: LogBatchLines, seq0: number, arrivedMs: number): number {
    if (batch.count === 0) return 0;
    batch.detach();
    // What it holds in memory, when that is more than its lines (H5): the rest goes with the batch.
    const weight = Math.max(batch.textBytes + batch.count * LINE_OVERHEAD_BYTES, batch.retainedBytes());
    this.segments.push({ batch, first: 0, seq0, arrivedMs, weight });
    this.lines += batch.count;
    this.totalWeight += weight;
    return this.evict(this.maxWeight);
  }

  /** Calls `visit` for every kept line, oldest first. */
  forEach(visit: LineVisitor): void {
    for (let s = this.head; s < this.segments.length; s++) {
      const seg = this.segments[s];
      for (let i = seg.first; i < seg.batch.count; i++) visit(seg.batch, i, seg.seq0 + i, seg.arrivedMs);
    }
  }

  clear(): void {
    this.segments = [];
    this.head = 0;
    this.lines = 0;
    this.totalWeight = 0;
  }

  /** Drops the oldest lines while over a bound, keeping at least the newest line. */
  private evict(maxWeight: number): number {
    let evicted = 0;
    while (this.lines > 1 && (this.lines > this.maxLines || this.totalWeight > maxWeight)) {
      const seg = this.segments[this.head];
      const kept = seg.batch.count - seg.first;
      const lastWeight = seg.batch.lineBytes(seg.batch.count - 1) + LINE_OVERHEAD_BYTES;
      // Would the line-by-line loop below still be over a bound just before its last line?
      const allGo =
        this.lines - kept + 1 > 1 &&
        (this.lines - kept + 1 > this.maxLines || this.totalWeight - seg.weight + lastWeight > maxWeight);
      if (allGo) {
        this.lines -= kept;
        this.totalWeight -= seg.weight;
        evicted += kept;
        this.segments[this.head++] = undefined as unknown as Segment; // let it be collected
        this.compact();
        continue;
      }
      const w = seg.batch.lineBytes(seg.first) + LINE_OVERHEAD_BYTES;
      seg.first++;
      seg.weight -= w;
      this.lines--;
      this.totalWeight -= w;
      evicted++;
    }
    return evicted;
  }

  /** Forgets the evicted head of the queue once it is most of the array. */
  private compact(): void {
    if (this.head >= 32 && this.head * 2 >= this.segments.length) {
      this.segments = this.segments.slice(this.head);
      this.head = 0;
    }
  }
}
