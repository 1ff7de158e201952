// EntrypointExecRequest.output messages, encoded by hand: the process's bytes go on the wire in
// one copy (protobufjs's fromObject + encode would add a pass per chunk), in pieces no larger
// than MAX_OUTPUT_CHUNK: far below gRPC's usual 4 MiB receive limit, and large, because every
// message costs each hop (here, the server, the ctl) a fixed amount of work, bytes aside. The request serializer
// passes a Buffer through as an already encoded message (src/protocol/keepalive.ts).

import { FRAME_HEADER, markFramable } from '../protocol/framed-sends.js';
import { splitChunks as split, varintLength, writeVarint } from '../protocol/wire-bytes.js';

/**
 * The largest data of one output message: one read of a full exec pipe (1 MiB, native/posix.c).
 * 64 KiB (a pipe's default) made 16 messages per MB, each costing every hop about as much CPU
 * as copying its bytes several times over (issue 17).
 */
export const MAX_OUTPUT_CHUNK = 1024 * 1024;

/** EntrypointExecRequest.Output.Channel's numbers. */
export const CHANNEL = { STDOUT: 1, STDERR: 2 } as const;
export type Channel = keyof typeof CHANNEL;

/** Field 3 (output) of EntrypointExecRequest, length-delimited. */
const TAG_OUTPUT = (3 << 3) | 2;
/** Output's field 1 (channel, varint) and field 2 (data, length-delimited). */
const TAG_CHANNEL = (1 << 3) | 0;
const TAG_DATA = (2 << 3) | 2;

/** `data` cut into views of at most `max` bytes (no copy). */
export function splitChunks(data: Buffer, max = MAX_OUTPUT_CHUNK): Buffer[] {
  return split(data, max);
}

/** One encoded EntrypointExecRequest{output{channel, data}}; data must be ≤ MAX_OUTPUT_CHUNK. */
export function encodeOutput(channel: Channel, data: Buffer): Buffer {
  const inner = 2 + 1 + varintLength(data.length) + data.length;
  const message = Buffer.allocUnsafe(1 + varintLength(inner) + inner);
  let at = 0;
  message[at++] = TAG_OUTPUT;
  at = writeVarint(message, at, inner);
  message[at++] = TAG_CHANNEL;
  message[at++] = CHANNEL[channel];
  message[at++] = TAG_DATA;
  at = writeVarint(message, at, data.length);
  data.copy(message, at);
  return message;
}

/**
 * The room before the data that encodeOutputInPlace needs: at most 10 bytes of tags, channel and
 * two varints, and in front of them the gRPC frame header (framed-sends.ts).
 */
export const OUTPUT_HEADROOM = 10 + FRAME_HEADER;

/**
 * The output message carrying `data`, its header written into the OUTPUT_HEADROOM bytes before
 * `data` in its buffer, which must be free (pipeReader's framed reads): no copy of the data. It is
 * marked to be framed in place (the room left in front) on a call that sendFramedInPlace set up.
 * `data` must be ≤ MAX_OUTPUT_CHUNK.
 */
export function encodeOutputInPlace(channel: Channel, data: Buffer): Buffer {
  const inner = 2 + 1 + varintLength(data.length) + data.length;
  const start = data.byteOffset - (1 + varintLength(inner) + 3 + varintLength(data.length));
  const message = Buffer.from(data.buffer, start, data.byteOffset + data.length - start);
  let at = 0;
  message[at++] = TAG_OUTPUT;
  at = writeVarint(message, at, inner);
  message[at++] = TAG_CHANNEL;
  message[at++] = CHANNEL[channel];
  message[at++] = TAG_DATA;
  writeVarint(message, at, data.length);
  return markFramable(message);
}

/** The output messages carrying `data`, in order. */
export function outputMessages(channel: Channel, data: Buffer): Buffer[] {
  return splitChunks(data).map((piece) => encodeOutput(channel, piece));
}
