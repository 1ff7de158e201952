// The inline keepalives of every config stream on one timer, instead of a setInterval each (a
// Timeout and its closure, ~250 B per stream: a fleet's server holds 10 000). The streams are
// spread over SLOTS slots, one served per tick of intervalMs / SLOTS: each stream still gets its
// keepalive once every intervalMs, and a tick writes to a SLOTSth of the fleet, not all of it
// at once. The timer runs only while there are streams, and does not keep the process alive.

/** Something to poke once per interval (a config stream's keepalive). */
export type Beat = () => void;

export const SLOTS = 16;

export class KeepaliveWheel {
  private readonly slots: Set<Beat>[] = Array.from({ length: SLOTS }, () => new Set());
  private next = 0;
  private cursor = 0;
  private count = 0;
  private timer?: NodeJS.Timeout;

  constructor(private readonly intervalMs: number) {}

  /** Beats `beat` once per interval (the first within one); returns its removal. */
  add(beat: Beat): () => void {
    const slot = this.slots[this.next++ % SLOTS]!;
    slot.add(beat);
    this.count++;
    this.timer ??= this.start();
    return () => {
      if (!slot.delete(beat)) return;
      if (--this.count === 0) this.stop();
    };
  }

  /** Live beats (for tests). */
  get size(): number {
    return this.count;
  }

  close(): void {
    for (const slot of this.slots) slot.clear();
    this.count = 0;
    this.stop();
  }

  private start(): NodeJS.Timeout {
    const timer = setInterval(() => this.tick(), Math.max(1, Math.floor(this.intervalMs / SLOTS)));
    timer.unref();
    return timer;
  }

  private stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    const slot = this.slots[this.cursor]!;
    this.cursor = (this.cursor + 1) % SLOTS;
    // A beat may remove itself (its stream gone): a Set's iteration allows that.
    for (const beat of slot) beat();
  }
}
