// The bytes of an exec session relayed without decoding them into objects and encoding them
// again. The messages on the two calls carry the same payload under another field number:
//   EntrypointExecRequest.output (3) {channel 1, data 2}  →  ExecResponse.output (2) {channel 1, data 2}
//   ExecRequest.input (2) bytes                           →  EntrypointExecResponse.input (1) bytes
// Both tags are one byte, so a received message becomes the message to send by rewriting its
// first byte. The deserializers here recognize exactly these shapes (one field covering the whole
// message, and for output a well-formed inner message of channel STDOUT or STDERR and data); any
// other message is decoded by protobufjs as before. Either way the session sees the same object
// ({event, output} or {event, input}); a relayable one also holds its bytes under RAW. The
// retagged bytes then go out as the frame they came in (rpc/framed-writes.ts): no copy.
import { readOutput, readVarint } from '../../protocol/wire-bytes.js';
import { markReceivedFrame } from '../rpc/framed-writes.js';

export const RAW = Symbol('raw message');

const TAG_EP_OUTPUT = (3 << 3) | 2;
const TAG_OPERATOR_OUTPUT = (2 << 3) | 2;
const TAG_OPERATOR_INPUT = (2 << 3) | 2;
const TAG_EP_INPUT = (1 << 3) | 2;

export interface RawOutput {
  event: 'output';
  output: { channel: 'STDOUT' | 'STDERR'; data: Buffer };
  [RAW]: Buffer;
}

export interface RawInput {
  event: 'input';
  input: Buffer;
  [RAW]: Buffer;
}

/** The body of the single length-delimited field `tag` that spans all of `buf`, or undefined. */
function wholeField(buf: Buffer, tag: number): number | undefined {
  if (buf.length < 2 || buf[0] !== tag) return undefined;
  const len = readVarint(buf, 1);
  return len && len.next + len.value === buf.length ? len.next : undefined;
}

/** An EntrypointExecRequest that is one output message, as the session reads it; else undefined. */
export function decodeRawOutput(buf: Buffer): RawOutput | undefined {
  const out = readOutput(buf, TAG_EP_OUTPUT);
  return out && { event: 'output', output: { channel: out.channel === 1 ? 'STDOUT' : 'STDERR', data: out.data }, [RAW]: buf };
}

/** An ExecRequest that is one input message, as the session reads it; else undefined. */
export function decodeRawInput(buf: Buffer): RawInput | undefined {
  const pos = wholeField(buf, TAG_OPERATOR_INPUT);
  return pos === undefined ? undefined : { event: 'input', input: buf.subarray(pos), [RAW]: buf };
}

/** The ExecResponse carrying a relayable output: the received bytes, retagged in place. */
export function operatorOutput(m: { [RAW]: Buffer }): Buffer {
  const buf = m[RAW];
  buf[0] = TAG_OPERATOR_OUTPUT;
  return markReceivedFrame(buf);
}

/** The EntrypointExecResponse carrying a relayable input: the received bytes, retagged in place. */
export function entrypointInput(m: { [RAW]: Buffer }): Buffer {
  const buf = m[RAW];
  buf[0] = TAG_EP_INPUT;
  return markReceivedFrame(buf);
}

export function hasRaw<T extends object>(m: T): m is T & { [RAW]: Buffer } {
  return RAW in m;
}

/** Operator calls whose response serializer takes a Buffer as an encoded ExecResponse (gRPC's). */
const rawOperators = new WeakSet<object>();

export function acceptsRawResponses(call: object): void {
  rawOperators.add(call);
}

export function takesRawResponses(call: object): boolean {
  return rawOperators.has(call);
}
