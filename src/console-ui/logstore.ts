// What the logs page holds: the newest lines in a ring, the view the text filter lets through,
// and counts of what was lost. The stream opens before the history is fetched (no gap between
// the two); its lines wait until the history is in, and those the history already had (same
// cursor id) are dropped.
import { type LogFilter, matches } from './logfmt.js';
import { FilteredView, Ring } from './ring.js';
import type { LogLine } from './types.js';

export const RING_LINES = 50_000;

export class LogStore {
  readonly ring: Ring<LogLine>;
  view: FilteredView<LogLine>;
  /** Lines the server dropped before this page got them (its `skipped` events). */
  skipped = 0;
  private pending: LogLine[] | null = [];

  constructor(
    private filter: LogFilter,
    capacity = RING_LINES,
  ) {
    this.ring = new Ring(capacity);
    this.view = this.makeView();
  }

  private makeView(): FilteredView<LogLine> {
    const f = this.filter;
    return new FilteredView(this.ring, (l) => matches(f, l));
  }

  /** Older lines pushed out of the ring by newer ones. */
  get evicted(): number {
    return this.ring.evicted;
  }

  get waitingForHistory(): boolean {
    return this.pending !== null;
  }

  /** A line from the stream. */
  add(l: LogLine): void {
    if (this.pending) this.pending.push(l);
    else this.push(l);
  }

  private push(l: LogLine): void {
    const seq = this.ring.push(l);
    this.view.add(seq, l);
    if (this.ring.evicted > 0) this.view.trim();
  }

  /** The history (oldest first), or null when it could not be had: then the stream goes on alone. */
  history(lines: LogLine[] | null): void {
    const waiting = this.pending ?? [];
    this.pending = null;
    const ids = new Set<string>();
    for (const l of lines ?? []) {
      ids.add(l.id);
      this.push(l);
    }
    for (const l of waiting) if (!ids.has(l.id)) this.push(l);
  }

  /** The text filter changed (the server-side parts did not): the view is rebuilt from the ring. */
  setText(text: string): void {
    this.filter = { ...this.filter, text };
    this.view = this.makeView();
  }

  /** Every line of the view, as for a download. */
  visibleLines(): LogLine[] {
    return this.view.slice(0, this.view.length);
  }
}
