// A fixed-size ring of log lines with sequence numbers, and the view of it a filter lets
// through. An app writing 10 000 lines/s must not grow the page without bound: the ring keeps
// the newest `capacity` lines and counts what fell out; the view keeps the sequence numbers of
// the matching lines, so scrolling and rendering a window cost nothing per line kept.

export class Ring<T> {
  private readonly items: (T | undefined)[];
  /** Sequence number of the next item pushed; the oldest kept is next - size. */
  private next = 0;
  /** Items pushed out by newer ones. */
  evicted = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error('a ring needs a capacity of 1 or more');
    this.items = new Array<T | undefined>(capacity);
  }

  get size(): number {
    return Math.min(this.next, this.capacity);
  }

  /** Sequence number of the oldest item kept. */
  get first(): number {
    return this.next - this.size;
  }

  /** Sequence number the next push gets. */
  get end(): number {
    return this.next;
  }

  push(item: T): number {
    if (this.next >= this.capacity) this.evicted++;
    this.items[this.next % this.capacity] = item;
    return this.next++;
  }

  /** The item with this sequence number, or undefined once it fell out (or never was). */
  at(seq: number): T | undefined {
    if (seq < this.first || seq >= this.next) return undefined;
    return this.items[seq % this.capacity];
  }

  clear(): void {
    this.items.fill(undefined);
    this.next = 0;
    this.evicted = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let s = this.first; s < this.next; s++) yield this.items[s % this.capacity] as T;
  }
}

/**
 * The sequence numbers of a ring's items that match a predicate, oldest first. Kept in step with
 * `add` as items arrive; `trim` drops those the ring no longer has. An array with a moving start
 * (compacted now and then) so that dropping from the front is not O(n) each time.
 */
export class FilteredView<T> {
  private seqs: number[] = [];
  private start = 0;
  /** Items dropped from the front so far (a list that keeps its place subtracts them). */
  dropped = 0;

  constructor(
    private readonly ring: Ring<T>,
    private readonly match: (item: T) => boolean,
  ) {
    for (let s = ring.first; s < ring.end; s++) if (match(ring.at(s) as T)) this.seqs.push(s);
  }

  get length(): number {
    return this.seqs.length - this.start;
  }

  /** Call after ring.push(item) returned seq. */
  add(seq: number, item: T): void {
    if (this.match(item)) this.seqs.push(seq);
  }

  /** Forgets the sequence numbers the ring has evicted. */
  trim(): void {
    const first = this.ring.first;
    while (this.start < this.seqs.length && this.seqs[this.start] < first) {
      this.start++;
      this.dropped++;
    }
    if (this.start > 4096 && this.start * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.start);
      this.start = 0;
    }
  }

  /** Items [from, to) of the view (indices into it, not sequence numbers). */
  slice(from: number, to: number): T[] {
    const out: T[] = [];
    const a = Math.max(0, from);
    const b = Math.min(this.length, to);
    for (let i = a; i < b; i++) {
      const item = this.ring.at(this.seqs[this.start + i]);
      if (item !== undefined) out.push(item);
    }
    return out;
  }
}
