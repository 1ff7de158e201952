// The Tunnel service's calls, made on the session's own client (so on its channel: one HTTP/2
// connection for everything), and ConnectRequest{data} encoded by hand: the app's bytes go on the
// wire in one copy (encodeDataInPlace: the message and its gRPC frame written around the copy),
// in pieces no larger than MAX_DATA_CHUNK: far below gRPC's usual 4 MiB receive limit, and
// large, because every message costs each hop a fixed amount of work.
import type { ClientDuplexStream, ClientReadableStream, Metadata } from '@grpc/grpc-js';
import type { ConnectRequest } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectRequest.js';
import type { ConnectResponse__Output } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectResponse.js';
import type { RegisterRequest } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterRequest.js';
import type { RegisterResponse__Output } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterResponse.js';
import type { TunnelDefinition } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/Tunnel.js';
import type { WaypointClient } from '../protocol/generated/hashicorp/waypoint/Waypoint.js';
import { fieldMessageInPlace, FRAME_HEADER } from '../protocol/framed-sends.js';
import { instanceProtocol } from '../protocol/instance.js';
import { splitChunks as split, varintLength, writeVarint } from '../protocol/wire-bytes.js';

/** The largest data of one message: one read from the app (carrier.ts). */
export const MAX_DATA_CHUNK = 1024 * 1024;

/** ConnectRequest's field 3 (data), length-delimited. */
const TAG_DATA = (3 << 3) | 2;

/** `data` cut into views of at most `max` bytes (no copy). */
export function splitChunks(data: Buffer, max = MAX_DATA_CHUNK): Buffer[] {
  return split(data, max);
}

/** One encoded ConnectRequest{data}; `data` must be ≤ MAX_DATA_CHUNK. */
export function encodeData(data: Buffer): Buffer {
  const message = Buffer.allocUnsafe(1 + varintLength(data.length) + data.length);
  let at = 0;
  message[at++] = TAG_DATA;
  at = writeVarint(message, at, data.length);
  data.copy(message, at);
  return message;
}

/**
 * The room before the data that encodeDataInPlace needs: the tag and at most 3 bytes of length
 * (MAX_DATA_CHUNK < 2^21), and in front of them the gRPC frame header (framed-sends.ts).
 */
export const DATA_HEADROOM = 1 + 3 + FRAME_HEADER;

/**
 * ConnectRequest{data} carrying `data`, its header written into the bytes just before `data` in
 * its buffer, which must be free (DATA_HEADROOM of them): no copy of the data. It is marked to be
 * framed in place on a call that sendFramedInPlace set up. `data` must be ≤ MAX_DATA_CHUNK.
 */
export function encodeDataInPlace(data: Buffer): Buffer {
  return fieldMessageInPlace(TAG_DATA, data);
}

/** What Connect's request side accepts: a message object, or one encodeData() made. */
export type ConnectWrite = ConnectRequest | Buffer;

function tunnel(): TunnelDefinition {
  return instanceProtocol().waypoint_entrypoint.tunnel.v1.Tunnel.service as unknown as TunnelDefinition;
}

/** Opens Register on the session's client. */
export function openRegister(client: WaypointClient, request: RegisterRequest, metadata: Metadata): ClientReadableStream<RegisterResponse__Output> {
  const m = tunnel().Register;
  return client.makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, request, metadata, {});
}

/** Opens Connect on the session's client; a Buffer written to it goes out as it is. */
export function openConnect(client: WaypointClient, metadata: Metadata): ClientDuplexStream<ConnectWrite, ConnectResponse__Output> {
  const m = tunnel().Connect;
  const serialize = (value: ConnectWrite) => (Buffer.isBuffer(value) ? value : m.requestSerialize(value));
  return client.makeBidiStreamRequest(m.path, serialize, m.responseDeserialize, metadata, {});
}
