// Ships the queue's batches on EntrypointLogStream, one stream per session, opened once the
// session is established and ended with it. Batches are taken from the queue only as fast as
// the stream accepts them (HTTP/2 flow control): a slow or absent server leaves them in the
// bounded queue, never in an unbounded buffer of ours and never in the app's way.
//
// A stream the server refuses (FAILED_PRECONDITION before it knows the instance,
// PERMISSION_DENIED, a server without log support) is warned about and retried with backoff;
// what was written on it goes back to the queue. A stream lost with its connection keeps what
// it sent: at most once, never twice.
import type { ClientWritableStream } from '@grpc/grpc-js';
import { Backoff, type BackoffPolicy, RECONNECT_POLICY } from '../connection/backoff.js';
import type { Session } from '../connection/session.js';
import type { Logger } from '../log.js';
import { sendFramedInPlace } from '../protocol/framed-sends.js';
import { KEEPALIVE } from '../protocol/keepalive.js';
import { grpc } from '../protocol/instance.js';
import type { Batch, LogQueue } from './queue.js';

export interface LogShipperOptions {
  queue: LogQueue;
  logger: Logger;
  /** The queue's bound while disconnected: WAYPOINT_CEB_LOG_BUFFER. */
  backlogBytes: number;
  /** Idle time after which an inline keepalive is sent, when the server wants them. */
  keepaliveMs?: number;
}

const DEFAULT_KEEPALIVE_MS = 5_000;
/**
 * While connected the queue may hold this much, or the backlog if that is more: an app writing
 * faster than the server takes lines (a burst, the server busy) does not lose any as long as the
 * server catches up within this much. Memory, not the app, pays for it, and only meanwhile.
 */
const CONNECTED_QUEUE_BYTES = 32 * 1024 * 1024;
/**
 * A refused or broken stream is retried after 0.5-1 s, 1-2 s, ... up to the reconnects' cap:
 * jittered, so that a fleet whose server restarted does not retry in lockstep.
 */
const RETRY_POLICY: BackoffPolicy = { ...RECONNECT_POLICY, initialMs: 1_000 };
/**
 * Messages written but not yet taken by HTTP/2. grpc-js's own buffer would accept 16 before
 * saying "full" (64 KiB each: 1 MiB more of us); a few keep the pipe busy just as well.
 */
const MAX_IN_FLIGHT = 4;
/** A stream that lived this long was not refused: the next failure starts the backoff over. */
const HEALTHY_STREAM_MS = 10_000;
/** Writes on which to look for grpc-js's send handler (framed-sends.ts) before giving up. */
const FRAMING_TRIES = 8;
/** A refusal comes at once; what was written after this long, the server has taken. */
const REFUSAL_WINDOW_MS = 2_000;
const REFUSAL_WINDOW_BYTES = 1024 * 1024;
/** gRPC status codes that mean the server refused the stream, as opposed to losing it. */
const REFUSALS = new Set<number>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.PERMISSION_DENIED,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.UNIMPLEMENTED,
  grpc.status.UNAUTHENTICATED,
]);

interface Outcome {
  code: number;
  details: string;
}

/** The stream of the current session. */
interface Stream {
  call: ClientWritableStream<unknown>;
  /** Messages handed to the call whose write has not completed: bounded by MAX_IN_FLIGHT. */
  inFlight: number;
  lastWrite: number;
  openedAt: number;
  /** Still in its first moments, when a refusal may come. */
  refusable: boolean;
  /** Written in its first moments: put back if the server refuses the stream. */
  sent: Batch[];
  sentBytes: number;
  ended: Promise<Outcome>;
  /** Whether batches go out framed in place (found on one of the first writes), or tries left. */
  framing: true | number;
}

export class LogShipper {
  private stream?: Stream;
  private closed = false;
  private pumpQueued = false;

  constructor(private readonly options: LogShipperOptions) {}

  /** A new session: ship on it until it ends. */
  attach(session: Session): void {
    if (this.closed || session.signal.aborted) return;
    const { queue, backlogBytes } = this.options;
    queue.setCapacity(Math.max(backlogBytes, CONNECTED_QUEUE_BYTES));
    // Disconnected: back to the backlog's bound, the oldest lines over it dropped and counted.
    session.signal.addEventListener('abort', () => queue.setCapacity(backlogBytes), { once: true });
    void this.run(session);
  }

  /** The queue has a batch ready. */
  notify(): void {
    // Not from inside the queue's call (a log record, a tap): pump once the caller is done.
    if (this.pumpQueued || !this.stream) return;
    this.pumpQueued = true;
    queueMicrotask(() => {
      this.pumpQueued = false;
      this.pump();
    });
  }

  /**
   * At exit: sends what the queue holds and ends the stream, waiting for the server to take it,
   * for at most `timeoutMs`. Nothing to wait for when disconnected.
   */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.closed = true;
    const stream = this.stream;
    if (!stream) return;
    this.pump();
    while (Date.now() < deadline && this.stream === stream && (!this.options.queue.empty || stream.inFlight > 0)) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    if (this.stream !== stream) return;
    stream.call.end();
    await Promise.race([stream.ended, new Promise((resolve) => setTimeout(resolve, Math.max(0, deadline - Date.now())).unref())]);
  }

  private async run(session: Session): Promise<void> {
    const { logger } = this.options;
    const backoff = new Backoff();
    let lastWarned: string | undefined;
    while (!session.signal.aborted && !this.closed) {
      const opened = Date.now();
      const outcome = await this.open(session);
      if (session.signal.aborted || this.closed) return;
      if (Date.now() - opened >= HEALTHY_STREAM_MS) {
        backoff.reset();
        lastWarned = undefined;
      }
      const delay = backoff.next({ policy: RETRY_POLICY });
      const reason = `${grpc.status[outcome.code] ?? outcome.code}: ${outcome.details}`;
      const fields = { reason, retry_in_ms: delay };
      const refused = REFUSALS.has(outcome.code);
      const warn = () => {
        if (reason === lastWarned) logger.debug('log stream ended; retrying', fields);
        else if (refused) logger.warn('the server refused our log stream; lines stay queued (bounded) and it is retried', fields);
        else logger.warn('the log stream broke; lines stay queued (bounded) and it is retried', fields);
        lastWarned = reason;
      };
      // A stream lost with the whole connection (a server restart) is the connection's news, told
      // once by it: warn only when the session outlives the delay and we really retry.
      if (refused) warn();
      await sleep(delay, session.signal);
      if (session.signal.aborted || this.closed) return;
      if (!refused) warn();
    }
  }

  /** One stream on the session; resolves with its status when it ends. */
  private open(session: Session): Promise<Outcome> {
    const { queue } = this.options;
    let resolveEnded!: (outcome: Outcome) => void;
    const ended = new Promise<Outcome>((resolve) => (resolveEnded = resolve));
    const call = session.client.EntrypointLogStream(session.metadata(), (err) => {
      const outcome = err ? { code: err.code ?? grpc.status.UNKNOWN, details: err.details ?? err.message } : { code: grpc.status.OK, details: 'the server ended the stream' };
      if (this.stream === stream) this.stream = undefined;
      clearInterval(keepalive);
      session.signal.removeEventListener('abort', cancel);
      if (REFUSALS.has(outcome.code)) queue.requeue(stream.sent);
      resolveEnded(outcome);
    }) as unknown as ClientWritableStream<unknown>;
    const stream: Stream = { call, inFlight: 0, lastWrite: Date.now(), openedAt: Date.now(), refusable: true, sent: [], sentBytes: 0, ended, framing: FRAMING_TRIES };
    this.stream = stream;
    const cancel = () => call.cancel();
    session.signal.addEventListener('abort', cancel, { once: true });
    const keepaliveMs = this.options.keepaliveMs ?? DEFAULT_KEEPALIVE_MS;
    const keepalive = session.inlineKeepalives
      ? setInterval(() => {
          if (this.stream !== stream || stream.inFlight > 0 || Date.now() - stream.lastWrite < keepaliveMs) return;
          this.write(stream, KEEPALIVE);
        }, Math.max(10, Math.floor(keepaliveMs / 2)))
      : undefined;
    keepalive?.unref();
    this.pump();
    return ended;
  }

  /** Writes batches while the stream accepts them. */
  private pump(): void {
    const stream = this.stream;
    if (!stream) return;
    const { queue } = this.options;
    while (stream.inFlight < MAX_IN_FLIGHT) {
      const batch = queue.take();
      if (!batch) return;
      this.remember(stream, batch);
      this.write(stream, batch.bytes);
    }
  }

  private write(stream: Stream, message: Buffer | typeof KEEPALIVE): void {
    stream.lastWrite = Date.now();
    stream.inFlight++;
    // The call's send filters exist once it is under way: looked for on its first writes.
    if (stream.framing !== true && stream.framing > 0) stream.framing = sendFramedInPlace(stream.call) || stream.framing - 1;
    stream.call.write(message, () => {
      stream.inFlight--;
      this.pump();
    });
  }

  private remember(stream: Stream, batch: Batch): void {
    if (!stream.refusable) return;
    if (Date.now() - stream.openedAt > REFUSAL_WINDOW_MS || stream.sentBytes + batch.bytes.length > REFUSAL_WINDOW_BYTES) {
      stream.refusable = false; // the stream was accepted: the server has what it was sent
      stream.sent = [];
      return;
    }
    stream.sent.push(batch);
    stream.sentBytes += batch.bytes.length;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
