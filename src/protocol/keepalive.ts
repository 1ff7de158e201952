// Waypoint's inline keepalives: for load balancers that ignore HTTP/2 pings, a stream may carry a
// message whose only field is `100000000: signature = "inline_keepalive"`. It must be dropped
// before it is decoded as the stream's real type: decoded as, say, EntrypointConfigResponse it
// would look like an empty config (unknown fields are skipped) and wipe the app's settings.
import type { PackageDefinition } from '@grpc/proto-loader';

export const INLINE_KEEPALIVE_SIGNATURE = 'inline_keepalive';
const FIELD_NUMBER = 100_000_000;
const WIRE_TYPE_LENGTH_DELIMITED = 2;

function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return bytes;
}

/** The exact bytes of an inline keepalive message. */
export const INLINE_KEEPALIVE_BYTES = Buffer.from([
  ...varint(FIELD_NUMBER * 8 + WIRE_TYPE_LENGTH_DELIMITED),
  ...varint(INLINE_KEEPALIVE_SIGNATURE.length),
  ...Buffer.from(INLINE_KEEPALIVE_SIGNATURE),
]);

export function isInlineKeepalive(message: Buffer): boolean {
  return message.length === INLINE_KEEPALIVE_BYTES.length && message.equals(INLINE_KEEPALIVE_BYTES);
}

/** What a wrapped deserializer returns for a keepalive; receivers skip it. */
export const KEEPALIVE = Symbol('inline keepalive');

export function isKeepalive(message: unknown): message is typeof KEEPALIVE {
  return message === KEEPALIVE;
}

/** Streaming directions of Waypoint's service whose messages may be keepalives. */
const STREAMING: Record<string, { requests: boolean; responses: boolean }> = {
  EntrypointConfig: { requests: false, responses: true },
  EntrypointLogStream: { requests: true, responses: false },
  EntrypointExecStream: { requests: true, responses: true },
};

/**
 * Wraps the deserializers of Waypoint's streaming methods so that a keepalive decodes to the
 * KEEPALIVE symbol instead of an empty message. Used by both our client and our server.
 * The request serializers (used by clients only) go the other way: KEEPALIVE is written as the
 * keepalive's bytes, and a Buffer as it is: a message we encoded ourselves (log batches are
 * encoded straight from the app's bytes, see src/logs/wire.ts).
 */
export function dropInlineKeepalives(definition: PackageDefinition): void {
  const service = definition['hashicorp.waypoint.Waypoint'] as unknown as Record<
    string,
    {
      requestDeserialize: (b: Buffer) => unknown;
      responseDeserialize: (b: Buffer) => unknown;
      requestSerialize: (value: unknown) => Buffer;
    }
  >;
  for (const [method, streams] of Object.entries(STREAMING)) {
    const m = service[method];
    if (streams.requests) {
      const decode = m.requestDeserialize;
      m.requestDeserialize = (b) => (isInlineKeepalive(b) ? KEEPALIVE : decode(b));
      const encode = m.requestSerialize;
      m.requestSerialize = (value) => (value === KEEPALIVE ? INLINE_KEEPALIVE_BYTES : Buffer.isBuffer(value) ? value : encode(value));
    }
    if (streams.responses) {
      const decode = m.responseDeserialize;
      m.responseDeserialize = (b) => (isInlineKeepalive(b) ? KEEPALIVE : decode(b));
    }
  }
}
