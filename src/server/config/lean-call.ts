// What grpc-js keeps for a server-streaming call's whole life that a config stream never uses
// again once admitted; a fleet's server holds one such call per instance, 10 000 times over.
// - The request's decoder (grpc-js's StreamDecoder: two Buffers of 1 and 4 bytes, each with a
//   backing store of its own, ~1 KiB with them): the client half-closed after its one request
//   message, and HTTP/2 lets no DATA follow END_STREAM, so it never decodes again.
// - The trailing metadata, empty (a config stream's status goes without trailers of ours): one
//   empty Metadata shared by every call instead of one each (~0.2 KiB). grpc-js copies it when
//   it sends the status (sendStatus clones it), and end(metadata) replaces it: nothing writes
//   into the shared one.
// - grpc-js's listener for the call (its server-streaming handler's four closures, whose context
//   holds the request's metadata and message): once the request is read to its end, only its
//   onCancel can still be called, so a SpentListener that does what that onCancel does takes
//   its place, and the metadata (emptied by service.ts, still a Metadata with its Map) goes with
//   the rest (~0.6 KiB); and the request message, which only admission read.
//
// They are grpc-js internals (1.14: the call's `call`, or `call.nextCall` behind interceptors):
// each is probed and replaced only when found as expected; a grpc-js that moved them keeps them.
import { Metadata, type ServerWritableStream, status as Status } from '@grpc/grpc-js';

interface BaseCallLike {
  receivedHalfClose?: unknown;
  decoder?: unknown;
  listener?: unknown;
  metadata?: unknown;
}

/** The keys of grpc-js's server-streaming listener (server.js, handleServerStreaming). */
const LISTENER_KEYS = 'onCancel,onReceiveHalfClose,onReceiveMessage,onReceiveMetadata';

/**
 * What grpc-js's server-streaming listener does once the request is read: on cancel, the stream
 * is told and destroyed. Nothing else reaches it after the half-close (no message may follow
 * it); were one to, the call ends as grpc-js ends a second request message.
 */
class SpentListener {
  constructor(
    private readonly stream: ServerWritableStream<unknown, unknown> & { cancelled: boolean },
    private readonly base: { sendStatus(status: { code: number; details: string; metadata: null }): void },
  ) {}

  onCancel(): void {
    this.stream.cancelled = true;
    this.stream.emit('cancelled', 'cancelled');
    this.stream.destroy();
  }

  /** Metadata comes once, at the start, long before this listener: nothing to do. */
  onReceiveMetadata(): void {}

  onReceiveMessage(): void {
    this.base.sendStatus({ code: Status.UNIMPLEMENTED, details: 'Received a second request message for a server streaming method', metadata: null });
  }

  /** The half-close came already (this listener is put in after it): a second one changes nothing. */
  onReceiveHalfClose(): void {}
}

/** Shared by every shed call; nothing writes into it (see above). */
let sharedEmpty: Metadata | undefined;
function emptyMetadata(): Metadata {
  sharedEmpty ??= new Metadata();
  return sharedEmpty;
}

/** The grpc-js call under the public stream: the one that read the request. */
function baseCall(call: object): BaseCallLike | undefined {
  const inner = (call as { call?: BaseCallLike & { nextCall?: BaseCallLike } }).call;
  const base = inner && 'decoder' in inner ? inner : inner?.nextCall;
  return base && typeof base === 'object' && 'decoder' in base ? base : undefined;
}

/**
 * Lets go of what an admitted server-streaming call no longer needs (see above). Returns whether
 * the decoder went: false when the request was not read to its end yet, or grpc-js is not as expected.
 */
export function shedSpentCallState<Req, Res>(call: ServerWritableStream<Req, Res>): boolean {
  const stream = call as unknown as { trailingMetadata?: unknown };
  if (stream.trailingMetadata instanceof Metadata && Object.keys(stream.trailingMetadata.getMap()).length === 0) {
    stream.trailingMetadata = emptyMetadata();
  }
  const base = baseCall(call);
  if (!base || base.receivedHalfClose !== true) return false;
  base.decoder = undefined;
  // Only without interceptors: with them, the listener grpc-js's handler gave is further in.
  const listener = base.listener;
  const direct = (call as unknown as { call?: unknown }).call === base;
  if (direct && listener && typeof listener === 'object' && Object.keys(listener).sort().join(',') === LISTENER_KEYS && typeof (base as { sendStatus?: unknown }).sendStatus === 'function') {
    base.listener = new SpentListener(call as unknown as ServerWritableStream<unknown, unknown> & { cancelled: boolean }, base as unknown as { sendStatus(s: object): void });
    if (base.metadata instanceof Metadata) base.metadata = emptyMetadata();
    (call as unknown as { metadata: Metadata }).metadata = emptyMetadata();
    (call as unknown as { request: unknown }).request = undefined;
  }
  return true;
}
