// The operator audit trail: who did what, from where. Each audit record is one info line with an
// `event` (config.set, exec.start, token.revoke...: the README lists them) and the fields of its
// caller, whose names stay stable for the log pipelines that search them. A token's id, never
// the token: the log is no place for secrets.
import type { Principal } from './auth/authenticator.js';
import { formatPeer } from '../rules/listen.js';

export interface Actor {
  /** The id of the caller's token (`waypoint-ctl token list` shows it). */
  actor_token: string;
  actor_kind: 'operator' | 'entrypoint' | 'invite';
  /** The caller's address, host:port. */
  peer: string;
}

export function actorOf(principal: Principal, peer: string): Actor {
  return { actor_token: principal.tokenId, actor_kind: principal.kind, peer: formatPeer(peer) };
}
