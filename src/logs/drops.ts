// Our own word on the lines the log queue dropped. The server learns of them from the marker
// line in the stream (queue.ts); whoever reads only our stderr (the container's log) learns of
// them here: one warning right after the first drop, then at most one per REPORT_MS while drops
// go on, each with the count since the last and in all. The queue calls in from inside a push,
// and a warning is itself a record pushed to that queue: so it is never logged from the call.
import type { Logger } from '../log.js';

export const DROP_REPORT_MS = 5_000;

export class DropReporter {
  private pending = 0;
  private total = 0;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly logger: Logger,
    /** The queue's bound now, for the warning. */
    private readonly queueBytes: () => number,
    private readonly intervalMs = DROP_REPORT_MS,
  ) {}

  /** Lines dropped in all so far. */
  get dropped(): number {
    return this.total;
  }

  /** The queue just dropped `lines`: reported soon, never from inside this call. */
  add(lines: number): void {
    if (lines <= 0) return;
    this.pending += lines;
    this.total += lines;
    if (!this.timer) this.arm(0);
  }

  /** Reports what is pending now (at exit), and stops the timer. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.report();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      // Nothing new since the last warning: the episode is over, the next drop warns at once.
      if (this.report()) this.arm(this.intervalMs);
    }, ms);
    this.timer.unref();
  }

  private report(): boolean {
    if (this.pending === 0) return false;
    const dropped = this.pending;
    this.pending = 0;
    this.logger.warn('log lines were dropped: the log queue was full (the server was away or took lines slower than the app wrote them), or log capture fell behind the app (whose output lost nothing); a marker line tells the server how many', {
      dropped,
      total: this.total,
      queue_bytes: this.queueBytes(),
    });
    return true;
  }
}
