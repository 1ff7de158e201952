// One GetLogs call's sending side: first the buffered lines (all of them, at the reader's pace),
// then, when following, new lines from a bounded queue. A reader slower than the lines come
// loses the oldest queued lines, never slows ingestion; the next message says how many it lost.
// The messages are GetLogs's by default; the console's event stream gives its own encoding.
import type { GetLogsResponse } from '../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { LogLine } from '../../protocol/generated/waypoint_entrypoint/control/v1/LogLine.js';
import { cursorOf } from './cursor.js';
import type { LogEntry, LogSubscriber } from './hub.js';
import { RingBuffer } from './ring.js';

/** What the sender needs of a server-streaming call (grpc-js's ServerWritableStream, an HTTP response). */
export interface LogCall<M = GetLogsResponse> {
  /** False when the stream's buffer is full: wait for 'drain'. */
  write(message: M): boolean;
  once(event: 'drain', listener: () => void): unknown;
  end(): void;
}

export interface LogSenderOptions {
  follow: boolean;
  maxQueuedLines?: number;
  maxQueuedBytes?: number;
  /** Per message; the ctl raises its receive limit to take a full one. */
  maxLinesPerMessage?: number;
  maxBytesPerMessage?: number;
}

/** One message of up to maxLinesPerMessage lines, and how many were lost before them. */
export type LogEncoder<M> = (entries: LogEntry[], dropped: number) => M;

/** GetLogs's message. */
export const grpcLogMessage: LogEncoder<GetLogsResponse> = (entries, dropped) => {
  const lines = entries.map(toLine);
  return dropped > 0 ? { lines, dropped: String(dropped) } : { lines };
};

/** GetLogs's message to another replica (a forwarded call): each line with its deployment and id. */
export const peerLogMessage: LogEncoder<GetLogsResponse> = (entries, dropped) => {
  const lines = entries.map((e) => ({ ...toLine(e), deployment_id: e.deploymentId, cursor: cursorOf(e) }));
  return dropped > 0 ? { lines, dropped: String(dropped) } : { lines };
};

export class LogSender<M = GetLogsResponse> implements LogSubscriber {
  private at = 0;
  private readonly queue: RingBuffer<LogEntry>;
  private dropped = 0;
  private waiting = false;
  private scheduled = false;
  private closed = false;
  /** Sent once after the backlog (`backlogEnd`); undefined when there is none to send or it went. */
  private marker?: M;
  private readonly opts: Required<LogSenderOptions>;

  constructor(
    private readonly call: LogCall<M>,
    private backlog: LogEntry[],
    opts: LogSenderOptions,
    private readonly encode: LogEncoder<M> = grpcLogMessage as unknown as LogEncoder<M>,
    backlogEnd?: M,
  ) {
    this.marker = backlogEnd;
    this.opts = { maxQueuedLines: 10_000, maxQueuedBytes: 16 * 1024 * 1024, maxLinesPerMessage: 1000, maxBytesPerMessage: 1024 * 1024, ...opts };
    this.queue = new RingBuffer<LogEntry>(this.opts.maxQueuedLines, {
      maxWeight: this.opts.maxQueuedBytes,
      weigh: (e) => e.line.length,
    });
  }

  /**
   * Sends the backlog (`backlog`, when given, instead of the constructor's); ends the call after
   * it unless following.
   */
  start(backlog?: LogEntry[]): void {
    if (backlog) this.backlog = backlog;
    this.waiting = false;
    this.flush();
  }

  /**
   * Until `start`, offered lines wait in the queue (bounded, those lost counted): for a backlog
   * that other replicas are still sending.
   */
  hold(): void {
    this.waiting = true;
  }

  /** Called by ingestion: queue and return at once; sending happens on a later tick. */
  offer(entries: LogEntry[]): void {
    if (this.closed) return;
    for (const e of entries) this.dropped += this.queue.push(e);
    if (!this.scheduled && !this.waiting) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  /** Lines lost before reaching us (another replica's): counted with ours, said with the next lines. */
  lost(count: number): void {
    if (!this.closed) this.dropped += count;
  }

  /** The reader went away, or the server stops: send nothing more. */
  close(): void {
    this.closed = true;
    this.queue.clear();
  }

  /** Lines dropped and not yet reported (for tests). */
  get pendingDropped(): number {
    return this.dropped;
  }

  private flush(): void {
    while (!this.closed && !this.waiting) {
      const message = this.next();
      if (!message) {
        if (!this.opts.follow) {
          this.closed = true;
          this.call.end();
        }
        return;
      }
      if (!this.call.write(message)) {
        this.waiting = true;
        this.call.once('drain', () => {
          this.waiting = false;
          this.flush();
        });
      }
    }
  }

  /** The next message: backlog lines first, then queued ones with the count lost before them. */
  private next(): M | undefined {
    const lines: LogEntry[] = [];
    let bytes = 0;
    const room = () => lines.length < this.opts.maxLinesPerMessage && bytes < this.opts.maxBytesPerMessage;
    while (this.at < this.backlog.length && room()) {
      const e = this.backlog[this.at++];
      lines.push(e);
      bytes += e.line.length;
    }
    if (this.at >= this.backlog.length && this.backlog.length > 0) this.backlog.length = 0; // let it be collected
    if (lines.length > 0) return this.encode(lines, 0);
    if (this.marker !== undefined) {
      const marker = this.marker;
      this.marker = undefined;
      return marker;
    }
    const dropped = this.dropped;
    while (this.queue.length > 0 && room()) {
      const e = this.queue.shift()!;
      lines.push(e);
      bytes += e.line.length;
    }
    if (lines.length === 0) return undefined;
    this.dropped = 0;
    return this.encode(lines, dropped);
  }
}

export function toLine(e: LogEntry): LogLine {
  return {
    instance_id: e.instanceId,
    app: e.app,
    timestamp: { seconds: String(e.seconds), nanos: e.nanos },
    source: e.source === 'entrypoint' ? 'ENTRYPOINT' : 'APP',
    line: e.line,
  };
}
