// When to restart the app for new config env. A burst of changes (an operator setting ten vars
// one by one) makes one restart: each request waits for a quiet moment (no newer request for
// `quietMs`), at most `maxWaitMs` after the first. A random delay of up to `jitterMs` (our
// WAYPOINT_CEB_RESTART_JITTER) comes on top, so a fleet does not restart all at once.
// Requests during a restart make one more restart after it, with the env as it is then.

export interface RestartSchedulerOptions {
  quietMs: number;
  maxWaitMs: number;
  jitterMs: number;
  /** [0, 1), injectable for tests. */
  random?: () => number;
  /** Does the restart (or nothing, if the env turns out unchanged). */
  restart: () => Promise<void>;
  /** A restart that threw (a bug: a restart reports its own failures); the scheduler goes on. */
  onError: (err: Error) => void;
}

export const DEFAULT_QUIET_MS = 50;
export const DEFAULT_MAX_WAIT_MS = 500;

export class RestartScheduler {
  private timer?: NodeJS.Timeout;
  /** When the pending restart must happen at the latest (ms, Date.now()). */
  private latest = 0;
  private jitter = 0;
  private running = false;
  private again = false;
  private closed = false;

  constructor(private readonly options: RestartSchedulerOptions) {}

  get pending(): boolean {
    return this.timer !== undefined || this.running;
  }

  /** The env changed: restart soon. */
  request(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const now = Date.now();
    if (!this.timer) {
      this.jitter = Math.floor((this.options.random ?? Math.random)() * this.options.jitterMs);
      this.latest = now + this.options.maxWaitMs;
    }
    clearTimeout(this.timer);
    const wait = Math.min(this.options.quietMs, Math.max(0, this.latest - now)) + this.jitter;
    this.timer = setTimeout(() => void this.fire(), wait);
  }

  /** No more restarts (we are stopping). */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async fire(): Promise<void> {
    this.timer = undefined;
    this.running = true;
    try {
      await this.options.restart();
    } catch (err) {
      try {
        this.options.onError(err instanceof Error ? err : new Error(String(err)));
      } catch {
        // reporting must not stop the scheduler either
      }
    } finally {
      this.running = false;
    }
    if (this.again) {
      this.again = false;
      this.request();
    }
  }
}
