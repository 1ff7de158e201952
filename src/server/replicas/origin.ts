// Who a call is really for. A call another replica forwarded carries the hop marks: it is
// answered from what this replica holds (never forwarded again: no loops), and its audit trail
// and exec history name the original caller, not the replica. The marks count only on a call
// made with the operator's authority and with their proof: a MAC of the marks with the key every
// replica shares (so not even the operator's own token can have its calls recorded as another
// token's). On any other call they are ignored.
import { timingSafeEqual } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import type { Principal } from '../auth/authenticator.js';
import type { TokenSigner } from '../auth/tokens.js';
import { formatPeer } from '../../rules/listen.js';
import { forwardedCall, REPLICA_METADATA } from './replicas.js';

/** The metadata key of the marks' proof. */
export const HOP_PROOF = 'wp-replica-proof';
const PURPOSE = 'replica-hop';

export interface CallOrigin {
  /** The caller to record: the original one of a forwarded call. */
  principal: Principal;
  /** host:port of that caller. */
  peer: string;
  /** The id of the replica that forwarded the call; undefined: it came straight here. */
  hop?: string;
}

/** The proof of the hop marks `metadata` holds, added to it (Peers does, for every call). */
export function proveHop(signer: TokenSigner, metadata: Metadata): void {
  metadata.set(HOP_PROOF, signer.macFor(PURPOSE, marksOf(metadata)));
}

export function originOf(principal: Principal, metadata: Metadata, peer: string, signer: TokenSigner): CallOrigin {
  const marks = principal.kind === 'operator' ? forwardedCall(metadata) : undefined;
  if (!marks || !proven(signer, metadata)) return { principal, peer: formatPeer(peer) };
  return {
    principal: { kind: 'operator', tokenId: marks.tokenId || principal.tokenId },
    peer: marks.address || formatPeer(peer),
    hop: marks.hop,
  };
}

function marksOf(metadata: Metadata): string {
  return `${String(metadata.get(REPLICA_METADATA.hop)[0] ?? '')}\n${String(metadata.get(REPLICA_METADATA.forwardedFor)[0] ?? '')}`;
}

function proven(signer: TokenSigner, metadata: Metadata): boolean {
  const given = Buffer.from(String(metadata.get(HOP_PROOF)[0] ?? ''));
  const expected = Buffer.from(signer.macFor(PURPOSE, marksOf(metadata)));
  return given.length === expected.length && timingSafeEqual(given, expected);
}
