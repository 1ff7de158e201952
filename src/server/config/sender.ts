// The server end of one config stream, bounded (M4): each config is the whole config, so one
// that would queue behind another the instance has not read yet replaces any config already
// waiting instead: at most one in flight and one waiting, whatever the pushes. A config left
// waiting longer than `stallMs` means a reader that does not read: `onStall` drops it.

/** The part of gRPC's server stream the sender uses. */
export interface ConfigCall<M> {
  write(message: M, flushed: () => void): boolean;
}

export interface ConfigSenderOptions {
  /** How long a config may wait behind an unread one before the stream is dropped. */
  stallMs: number;
  onStall: () => void;
}

export class ConfigSender<M> {
  private inFlight = 0;
  /** Makes the newest config not sent yet (made when sent: it lists what is pending then). */
  private waiting?: () => M;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly call: ConfigCall<M>,
    private readonly opts: ConfigSenderOptions,
  ) {}

  /** Nothing written and not yet taken by the transport. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /** Sends now when nothing is in flight; otherwise replaces the waiting config. */
  send(make: () => M): void {
    if (this.stopped) return;
    if (this.inFlight === 0) {
      this.write(make());
      return;
    }
    this.waiting = make;
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      if (!this.stopped && this.waiting) this.opts.onStall();
    }, this.opts.stallMs);
  }

  /** A message only worth sending when the stream is idle (a keepalive); false when skipped. */
  sendIfIdle(message: M): boolean {
    if (this.stopped || this.inFlight > 0) return false;
    this.write(message);
    return true;
  }

  stop(): void {
    this.stopped = true;
    this.waiting = undefined;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private write(message: M): void {
    this.inFlight++;
    this.call.write(message, () => this.flushed());
  }

  private flushed(): void {
    this.inFlight--;
    if (this.inFlight > 0 || !this.waiting || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    const make = this.waiting;
    this.waiting = undefined;
    this.write(make());
  }
}
