// The client's protocol ranges, sent as metadata on every call (Waypoint's convention). Absent
// metadata is accepted (simple clients and grpcurl send none); a range that does not overlap
// ours is refused before the call does anything.
import type { Metadata } from '@grpc/grpc-js';
import { METADATA, negotiate, parseRange, PROTOCOL_VERSIONS, type ProtocolRange } from '../../protocol/metadata.js';
import { failedPrecondition, invalidArgument } from './status.js';

type Which = 'api' | 'entrypoint';

const HEADER: Record<Which, string> = { api: METADATA.apiProtocol, entrypoint: METADATA.entrypointProtocol };

/** Throws FAILED_PRECONDITION for an incompatible range, INVALID_ARGUMENT for a malformed one. */
export function checkClientProtocols(metadata: Metadata, which: readonly Which[]): void {
  for (const w of which) {
    const value = metadata.get(HEADER[w])[0];
    if (value === undefined) continue;
    const text = String(value);
    const theirs = parseRange(text);
    if (!theirs) throw invalidArgument(`malformed ${HEADER[w]} metadata ${JSON.stringify(text)}: expected "min,current"`);
    const ours: ProtocolRange = PROTOCOL_VERSIONS[w];
    if (negotiate(ours, theirs) === undefined) {
      throw failedPrecondition(
        `incompatible ${w} protocol: the client speaks versions ${theirs.minimum} to ${theirs.current}, ` +
          `this server ${ours.minimum} to ${ours.current}; upgrade whichever is older`,
      );
    }
  }
}
