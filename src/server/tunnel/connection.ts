// One tunneled connection as a Node Duplex: the server's end of a Connect stream, after the
// entrypoint accepted it. Bytes written go to the app (`data`), bytes the app sends are read;
// each direction half-closes on its own (end() → `eof`; the app's `eof` → end of reading).
// Backpressure both ways: a full gRPC send buffer holds up write callbacks, a reader that
// stops reading pauses the call (and so, through HTTP/2 flow control, the entrypoint).
//
// `ready` settles once the entrypoint says whether it reached the app: `connected`, or
// `failed` (TunnelError with beforeConnect). After that, a `failed` destroys the Duplex with a
// TunnelError. destroy() with an error cancels the stream (the entrypoint closes its socket to
// the app); a clean end finishes it with OK.
//
// It also offers what Node's HTTP client and Agent call on sockets (setTimeout, setKeepAlive,
// setNoDelay, ref, unref, destroySoon), so that an Agent can keep it for later requests
// (pool.ts). While it sits idle in such a pool, anything from the app (bytes, or its end) means
// the app is done with it: it is destroyed at once rather than handed to the next request.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { Duplex } from 'node:stream';
import type { ConnectRequest__Output } from '../../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectRequest.js';
import type { ConnectResponse } from '../../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectResponse.js';
import { RpcError, Status } from '../rpc/status.js';
import { sendReceivedFrames } from '../rpc/framed-writes.js';
import { widenReceiveWindow } from '../rpc/receive-window.js';
import { dataFrame, groupPieces } from './data-frames.js';

export type ConnectCall = ServerDuplexStream<ConnectRequest__Output, ConnectResponse>;

/**
 * The most one data message carries (larger writes go out as several): far below gRPC's 4 MiB
 * message limit. Also what may wait here to be written while a message is on its way.
 */
export const MAX_DATA_MESSAGE = 1024 * 1024;

export class TunnelError extends Error {
  constructor(
    message: string,
    /** Nothing reached the app: the request may be tried elsewhere. */
    readonly beforeConnect: boolean,
  ) {
    super(message);
    this.name = 'TunnelError';
  }
}

export class TunnelConnection extends Duplex {
  /** Resolves on `connected`; rejects with a TunnelError when the app cannot be reached. */
  readonly ready: Promise<void>;
  private connected = false;
  private settle!: (err?: TunnelError) => void;
  /** The call has its status (sent by us) or is gone (cancelled): nothing more goes on it. */
  private callDone = false;
  private peerEof = false;
  /** Idle in a pool, between requests (set by the pool). */
  private idle = false;
  private timeoutTimer?: NodeJS.Timeout;
  /** Inactivity timeout in ms (0: none), as net.Socket's `timeout`. */
  timeout = 0;
  /** Data goes out as frames made whole (data-frames.ts); false: grpc-js moved, its own framing. */
  private readonly framed: boolean;

  constructor(
    private readonly call: ConnectCall,
    readonly connectionId: string,
  ) {
    super({ allowHalfOpen: true, writableHighWaterMark: MAX_DATA_MESSAGE });
    this.ready = new Promise((resolve, reject) => {
      this.settle = (err) => (err ? reject(err) : resolve());
    });
    this.ready.catch(() => undefined); // a rejection nobody awaits is still handled
    // Its users learn of errors through `ready`, pipe and Node's HTTP client, which listen on
    // their own; between them (before a leg takes it, after one let go) an error must not crash.
    this.on('error', () => undefined);
    // Downloads flow toward us: more than one data message in flight per round trip.
    widenReceiveWindow(call);
    this.framed = sendReceivedFrames(call);
    call.on('data', (m: ConnectRequest__Output) => this.onMessage(m));
    call.on('end', () => this.onPeerEof());
    call.on('cancelled', () => {
      this.callDone = true;
      this.fail(new TunnelError('the instance\'s connection to the server was lost', !this.connected));
    });
  }

  get isConnected(): boolean {
    return this.connected;
  }

  /** The pool keeps it for a later request, or hands it to one. */
  setIdle(idle: boolean): void {
    this.idle = idle;
  }

  /** Fails the connection (before or after `connected`) and cancels the stream. */
  fail(err: TunnelError): void {
    if (!this.connected) this.settle(err);
    this.destroy(err);
  }

  private onMessage(m: ConnectRequest__Output): void {
    switch (m.event) {
      case 'connected':
        this.markConnected();
        return;
      case 'data':
        this.markConnected();
        // Bytes nobody asked for: the connection is not in a state fit for another request.
        if (this.idle) return void this.destroy();
        this.timeoutTimer?.refresh();
        if (m.data && m.data.length > 0 && !this.push(m.data)) this.call.pause();
        return;
      case 'eof':
        this.onPeerEof();
        return;
      case 'failed': {
        const f = m.failed!;
        const err = new TunnelError(f.message || 'the connection to the app failed', f.before_connect && !this.connected);
        // The entrypoint ends the stream itself after `failed`: finish it with OK, not a cancel.
        this.endCall();
        this.fail(err);
        return;
      }
      default:
        this.fail(new TunnelError(`unexpected ${m.event ?? 'empty'} message on an accepted connection`, !this.connected));
    }
  }

  private markConnected(): void {
    if (this.connected) return;
    this.connected = true;
    this.settle();
  }

  private onPeerEof(): void {
    if (this.peerEof) return;
    this.peerEof = true;
    // The app closed a kept-alive connection (its keep-alive timeout): never reuse it.
    if (this.idle) return void this.destroy();
    if (!this.connected) {
      this.fail(new TunnelError('the instance closed the connection before reaching the app', true));
      return;
    }
    this.push(null);
  }

  override _read(): void {
    if (!this.callDone) this.call.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this._writev([{ chunk }], callback);
  }

  // One write at a time: the next comes once the last message of this one was sent, and what was
  // written meanwhile (up to the high-water mark) comes here together, as few messages.
  override _writev(chunks: { chunk: Buffer }[], callback: (error?: Error | null) => void): void {
    if (this.callDone) return callback(new TunnelError('the connection is closed', false));
    this.timeoutTimer?.refresh();
    const groups = groupPieces(
      chunks.map((c) => c.chunk),
      MAX_DATA_MESSAGE,
    );
    if (groups.length === 0) return callback();
    groups.forEach((group, i) => {
      // The patched call sends a marked Buffer as its frame; the serializer takes it as nothing else.
      const message = this.framed ? (dataFrame(group) as ConnectResponse) : { data: group.length === 1 ? group[0] : Buffer.concat(group) };
      if (i < groups.length - 1) this.call.write(message);
      else this.call.write(message, () => callback());
    });
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (!this.callDone) this.call.write({ eof: {} });
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timeoutTimer);
    if (!this.connected) this.settle(err instanceof TunnelError ? err : new TunnelError(err?.message ?? 'closed before the app was reached', true));
    // An error of ours (client gone, timeout) cancels; the peer's own failure already ended it.
    if (err) this.cancelCall(err.message);
    else this.endCall();
    callback(err);
  }

  /** As net.Socket: 'timeout' after `ms` without bytes either way (0 turns it off). */
  setTimeout(ms: number, callback?: () => void): this {
    clearTimeout(this.timeoutTimer);
    this.timeoutTimer = undefined;
    this.timeout = ms;
    if (callback) {
      if (ms === 0) this.off('timeout', callback);
      else this.once('timeout', callback);
    }
    if (ms > 0 && !this.destroyed) this.timeoutTimer = setTimeout(() => this.emit('timeout'), ms).unref();
    return this;
  }

  /** The instance's gRPC connection has keepalives of its own; the app's TCP leg is loopback. */
  setKeepAlive(): this {
    return this;
  }

  /** Writes go out at once as gRPC messages (and the entrypoint sets no-delay on the app's socket). */
  setNoDelay(): this {
    return this;
  }

  /** Nothing of ours holds the event loop open (the idle timer is unref'd). */
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** As net.Socket: end our side, then destroy once it is written out. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  private endCall(): void {
    if (this.callDone) return;
    this.callDone = true;
    this.call.end();
  }

  private cancelCall(reason: string): void {
    if (this.callDone) return;
    this.callDone = true;
    this.call.emit('error', new RpcError(Status.CANCELLED, reason));
  }
}
