// A bounded FIFO on a fixed circular array: pushing beyond the bounds evicts the oldest items
// and says how many, so memory stays flat however fast lines come. Bounded by count and,
// optionally, by a total weight (bytes), so a few huge lines cannot grow it without bound.

export interface RingOptions<T> {
  /** Total weight kept at most (the newest item is kept even when it alone is heavier). */
  maxWeight?: number;
  weigh?: (item: T) => number;
}

export class RingBuffer<T> {
  private readonly items: Array<T | undefined>;
  private head = 0;
  private size = 0;
  private weight = 0;
  private readonly maxWeight: number;
  private readonly weigh: (item: T) => number;

  constructor(
    readonly capacity: number,
    opts: RingOptions<T> = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new Error(`ring capacity must be a positive integer, got ${capacity}`);
    this.items = new Array<T | undefined>(capacity);
    this.maxWeight = opts.maxWeight ?? Infinity;
    this.weigh = opts.weigh ?? (() => 0);
  }

  get length(): number {
    return this.size;
  }

  /** Appends; returns how many of the oldest items were evicted to make room. */
  push(item: T): number {
    let evicted = 0;
    if (this.size === this.capacity) {
      this.shift();
      evicted++;
    }
    this.items[(this.head + this.size) % this.capacity] = item;
    this.size++;
    this.weight += this.weigh(item);
    while (this.weight > this.maxWeight && this.size > 1) {
      this.shift();
      evicted++;
    }
    return evicted;
  }

  /** Removes and returns the oldest item. */
  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head] as T;
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.capacity;
    this.size--;
    this.weight -= this.weigh(item);
    return item;
  }

  /** Oldest first. */
  toArray(): T[] {
    const out = new Array<T>(this.size);
    for (let i = 0; i < this.size; i++) out[i] = this.items[(this.head + i) % this.capacity] as T;
    return out;
  }

  clear(): void {
    this.items.fill(undefined);
    this.head = 0;
    this.size = 0;
    this.weight = 0;
  }
}
