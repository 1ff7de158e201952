// The ctl's Exec call with its bytes encoded and read by hand, as the entrypoint and the server
// do theirs: ExecRequest.input is written straight from our stdin's bytes (one copy, no
// protobufjs object and writer per chunk), and an ExecResponse that is one output message is
// read as a view of the received bytes. Every other message goes through protobufjs.
import type { ClientDuplexStream, Metadata } from '@grpc/grpc-js';
import type { ExecRequest } from '../protocol/generated/waypoint_entrypoint/control/v1/ExecRequest.js';
import type { ExecResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import { fieldMessageInPlace, FRAME_HEADER } from '../protocol/framed-sends.js';
import { grpc, protocol } from '../protocol/load.js';
import { readOutput, varintLength, writeVarint } from '../protocol/wire-bytes.js';

/** ExecRequest.input (field 2) and ExecResponse.output (field 2), length-delimited. */
const TAG_INPUT = (2 << 3) | 2;
const TAG_OUTPUT = (2 << 3) | 2;

export type ExecCall = ClientDuplexStream<ExecRequest | Buffer, ExecResponse__Output>;

/**
 * The room before the data that encodeInputInPlace needs: the tag and a varint (≤ 2 MiB), and in
 * front of them the gRPC frame header (framed-sends.ts).
 */
export const INPUT_HEADROOM = 4 + FRAME_HEADER;
/** The most one input message carries: one read of a full widened pipe (stdinReader). */
export const MAX_INPUT_CHUNK = 1024 * 1024;

/**
 * The ExecRequest{input} carrying `data`, its header written into the free bytes before `data`
 * in its buffer (stdinReader's framed reads): no copy. `data` must be ≤ MAX_INPUT_CHUNK.
 */
export function encodeInputInPlace(data: Buffer): Buffer {
  return fieldMessageInPlace(TAG_INPUT, data);
}

/** One encoded ExecRequest{input}. */
export function encodeInput(data: Buffer): Buffer {
  const message = Buffer.allocUnsafe(1 + varintLength(data.length) + data.length);
  const at = writeVarint(message, 1, data.length);
  message[0] = TAG_INPUT;
  data.copy(message, at);
  return message;
}

/** An ExecResponse as protobufjs would give it; an output message without protobufjs. */
export function decodeResponse(buf: Buffer): ExecResponse__Output {
  const out = readOutput(buf, TAG_OUTPUT);
  if (out) return { event: 'output', output: { channel: out.channel === 1 ? 'STDOUT' : 'STDERR', data: out.data } } as ExecResponse__Output;
  return protocol().waypoint_entrypoint.control.v1.Control.service.Exec.responseDeserialize(buf) as ExecResponse__Output;
}

/** Opens Exec on `client`; a Buffer written to it (encodeInput) goes out as it is. */
export function openExec(client: grpc.Client, metadata: Metadata): ExecCall {
  const m = protocol().waypoint_entrypoint.control.v1.Control.service.Exec;
  const serialize = (value: ExecRequest | Buffer) => (Buffer.isBuffer(value) ? value : m.requestSerialize(value));
  return client.makeBidiStreamRequest(m.path, serialize, decodeResponse, metadata, {});
}
