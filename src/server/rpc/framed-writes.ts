// Relayed messages sent without grpc-js's copy. grpc-js frames every message it sends into a
// new buffer (a 5-byte header, then the message copied after it): for a relayed exec message of
// up to 1 MiB that is an allocation and a copy per message, the largest copy on the server's exec
// path (issue 17). A message we relay as received (exec/relay-wire.ts) still has its received
// frame header in the 5 bytes before it, in the same buffer (grpc-js's decoder hands the
// deserializer the framed message minus those bytes), and the same length: the frame to send is
// that view. Such a message is marked when it is made; on the calls we set up here, grpc-js's
// serializeMessage (found through its internals, guarded as receive-window.ts does) sends a
// marked message as that view once the header before it checks out, and anything else as before.
import { FRAME_HEADER } from '../../protocol/framed-sends.js';

/** Messages whose 5 bytes before them (in their buffer) are their received gRPC frame header. */
const received = new WeakSet<Buffer>();

/** Marks `message` (a received message, maybe retagged in place) to be sent as its own frame. */
export function markReceivedFrame(message: Buffer): Buffer {
  received.add(message);
  return message;
}

/** The frame of a marked message, when the header before it says exactly that; else undefined. */
export function frameOf(message: Buffer): Buffer | undefined {
  if (!received.has(message) || message.byteOffset < FRAME_HEADER) return undefined;
  const frame = Buffer.from(message.buffer, message.byteOffset - FRAME_HEADER, message.length + FRAME_HEADER);
  return frame[0] === 0 && frame.readUInt32BE(1) === message.length ? frame : undefined;
}

interface SerializingCall {
  serializeMessage(value: unknown): Buffer;
}

function isSerializing(value: unknown): value is SerializingCall {
  return !!value && typeof (value as Partial<SerializingCall>).serializeMessage === 'function';
}

/** grpc-js's call object that frames responses, under a server call (with interceptors or not). */
function framerOf(call: object): SerializingCall | undefined {
  const inner = (call as { call?: { nextCall?: unknown } }).call;
  if (isSerializing(inner)) return inner;
  return isSerializing(inner?.nextCall) ? inner.nextCall : undefined;
}

const patched = new WeakSet<object>();

/** On `call`, marked messages go out as their received frames. Returns whether it could. */
export function sendReceivedFrames(call: object): boolean {
  try {
    const framer = framerOf(call);
    if (!framer) return false;
    if (patched.has(framer)) return true;
    patched.add(framer);
    const serialize = framer.serializeMessage.bind(framer);
    framer.serializeMessage = (value: unknown) => (Buffer.isBuffer(value) && frameOf(value)) || serialize(value);
    return true;
  } catch {
    return false; // grpc-js moved: its own framing, as before
  }
}
