// Messages a client call sends without grpc-js's copy. grpc-js frames every message into a new
// buffer (a 5-byte header, then the message copied after it): for exec's messages of up to
// 1 MiB that is an allocation and a copy per message, the largest copy left on the entrypoint's
// and the ctl's exec path (issue 17). Our exec output and the ctl's input are read with room in
// front (pipeReader's headroom): a message made there and marked here gets the frame header
// written into the 5 bytes before it, and that view is the frame. grpc-js's identity
// compression handler (which frames) is found under the call through its internals
// (call → nextCall → … → filterStack.filters[] → sendCompression, while it is 'identity'), walked
// by name and guarded;
// a marked message goes out as its view, anything else as before, through the same promise
// shape, so the order of messages is kept. When grpc-js moves, nothing is found: its own copy.

import { varintLength, writeVarint } from './wire-bytes.js';

/** The gRPC frame header: a compressed flag and the length, big-endian. */
export const FRAME_HEADER = 5;

/** Messages with FRAME_HEADER bytes free before them in their buffer. */
const roomy = new WeakSet<Buffer>();

/** Marks `message`, which has FRAME_HEADER free bytes before it, to be framed in place. */
export function markFramable(message: Buffer): Buffer {
  if (message.byteOffset >= FRAME_HEADER) roomy.add(message);
  return message;
}

/**
 * A message of one length-delimited field `tag` holding `data`, its header written into the free
 * bytes just before `data` in its buffer (1 + the length's varint: no copy of the data), and
 * marked to be framed in place as well (FRAME_HEADER more bytes free before that).
 */
export function fieldMessageInPlace(tag: number, data: Buffer): Buffer {
  const start = data.byteOffset - 1 - varintLength(data.length);
  const message = Buffer.from(data.buffer, start, data.byteOffset + data.length - start);
  message[0] = tag;
  writeVarint(message, 1, data.length);
  return markFramable(message);
}

/** The frame of a marked message, its header written in front of it; else undefined. */
export function frameInPlace(message: Buffer): Buffer | undefined {
  if (!roomy.has(message)) return undefined;
  roomy.delete(message); // framed once: the bytes in front are the header from now on
  const frame = Buffer.from(message.buffer, message.byteOffset - FRAME_HEADER, message.length + FRAME_HEADER);
  frame[0] = 0;
  frame.writeUInt32BE(message.length, 1);
  return frame;
}

type WriteMessage = (message: Buffer, compress: boolean) => Promise<Buffer>;

interface Handler {
  writeMessage: WriteMessage;
}

const LINKS = ['call', 'nextCall', 'child', 'underlyingCalls', 'filterStack', 'filters'] as const;
const MAX_VISITS = 64;

/** The compression filter's send handler, when it sends uncompressed (identity). */
function identityHandlerOf(node: object): Handler | undefined {
  const filter = node as { sendCompression?: Partial<Handler>; currentCompressionAlgorithm?: unknown };
  const handler = filter.sendCompression;
  return filter.currentCompressionAlgorithm === 'identity' && typeof handler?.writeMessage === 'function' ? (handler as Handler) : undefined;
}

/** grpc-js's identity send handler under a client call, or undefined when it cannot be found. */
export function sendHandlerOf(call: object): Handler | undefined {
  const queue: unknown[] = [call];
  const seen = new Set<unknown>();
  while (queue.length > 0 && seen.size < MAX_VISITS) {
    const node = queue.shift();
    if (!node || typeof node !== 'object' || seen.has(node)) continue;
    seen.add(node);
    if (Array.isArray(node)) {
      queue.push(...node);
      continue;
    }
    const handler = identityHandlerOf(node);
    if (handler) return handler;
    for (const link of LINKS) queue.push((node as Record<string, unknown>)[link]);
  }
  return undefined;
}

const patched = new WeakSet<object>();

/**
 * On `call`, marked messages go out framed in place. Call it once the call has started sending
 * (its filters exist then); returns whether marked messages now skip the copy.
 */
export function sendFramedInPlace(call: object): boolean {
  try {
    const handler = sendHandlerOf(call);
    if (!handler) return false;
    if (patched.has(handler)) return true;
    patched.add(handler);
    const write = handler.writeMessage.bind(handler);
    handler.writeMessage = (message: Buffer, compress: boolean) => {
      const frame = Buffer.isBuffer(message) ? frameInPlace(message) : undefined;
      return frame ? Promise.resolve(frame) : write(message, compress);
    };
    return true;
  } catch {
    return false;
  }
}
