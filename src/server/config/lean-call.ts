// What grpc-js keeps for a server-streaming call's whole life that a config stream never uses
// again once admitted; a fleet's server holds one such call per instance, 10 000 times over.
// - The request's decoder (grpc-js's StreamDecoder: two Buffers of 1 and 4 bytes, each with a
//   backing store of its own, ~1 KiB with them): the client half-closed after its one request
//   message, and HTTP/2 lets no DATA follow END_STREAM, so it never decodes again.
// - The trailing metadata, empty (a config stream's status goes without trailers of ours): one
//   empty Metadata shared by every call instead of one each (~0.2 KiB). grpc-js copies it when
//   it sends the status (sendStatus clones it), and end(metadata) replaces it: nothing writes
//   into the shared one. (The request metadata and message stay: grpc-js's handler closure
//   holds them too; service.ts empties the metadata.)
//
// They are grpc-js internals (1.14: the call's `call`, or `call.nextCall` behind interceptors):
// each is probed and replaced only when found as expected; a grpc-js that moved them keeps them.
import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';

interface BaseCallLike {
  receivedHalfClose?: unknown;
  decoder?: unknown;
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
  return true;
}
