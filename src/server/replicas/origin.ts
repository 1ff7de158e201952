// Who a call is really for. A call another replica forwarded carries the hop marks: it is
// answered from what this replica holds (never forwarded again: no loops), and its audit trail
// and exec history name the original caller, not the replica. The marks count only on a call
// made with the operator's authority (every replica signs with the shared key); on any other
// call they are ignored, so no entrypoint token can pass itself off as someone else.
import type { Metadata } from '@grpc/grpc-js';
import type { Principal } from '../auth/authenticator.js';
import { formatPeer } from '../../rules/listen.js';
import { forwardedCall } from './replicas.js';

export interface CallOrigin {
  /** The caller to record: the original one of a forwarded call. */
  principal: Principal;
  /** host:port of that caller. */
  peer: string;
  /** The id of the replica that forwarded the call; undefined: it came straight here. */
  hop?: string;
}

export function originOf(principal: Principal, metadata: Metadata, peer: string): CallOrigin {
  const marks = principal.kind === 'operator' ? forwardedCall(metadata) : undefined;
  if (!marks) return { principal, peer: formatPeer(peer) };
  return {
    principal: { kind: 'operator', tokenId: marks.tokenId || principal.tokenId },
    peer: marks.address || formatPeer(peer),
    hop: marks.hop,
  };
}
