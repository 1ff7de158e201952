// server/auth/ owns trust: tokens are signed here and every call's token is checked here, so
// that no other part of the server decides who a caller is or what it may do.
//
// Who is calling: the token of a call, checked for its signature and then for its record (a
// revoked or unknown token is refused even when well signed), turned into a principal; and
// what each principal may do.
import type { Metadata } from '@grpc/grpc-js';
import { tokenOf } from '../../protocol/metadata.js';
import { permissionDenied, RpcError, Status, unauthenticated } from '../rpc/status.js';
import type { Store } from '../store/store.js';
import { nowSeconds, type TokenClaims, type TokenSigner } from './tokens.js';

/**
 * Entrypoint tokens one invite may be exchanged for. Each exchange is a row kept for good, and an
 * invite holder could otherwise mint them without end; an entrypoint exchanges once per process
 * start (and after a refusal), so this covers a deployment's instances and their restarts over an
 * invite's life many times over. Past it: a new invite (`deployment invite`).
 */
export const MAX_EXCHANGES_PER_INVITE = 10_000;

export type Principal =
  | { kind: 'operator'; tokenId: string }
  | { kind: 'entrypoint'; tokenId: string; deploymentId: string };

export class Authenticator {
  constructor(
    private readonly signer: TokenSigner,
    private readonly store: Store,
  ) {}

  /** The caller of `rpc`, from its metadata. Throws UNAUTHENTICATED or PERMISSION_DENIED. */
  principal(metadata: Metadata, rpc: string): Principal {
    const token = tokenOf((key) => metadata.get(key));
    if (!token) throw unauthenticated(`${rpc} needs a token: send it in the "authorization" metadata`);
    return this.principalOf(token, rpc);
  }

  /** The caller a token stands for, however it came (gRPC metadata, an HTTP header). */
  principalOf(token: string, rpc: string): Principal {
    const claims = this.valid(token);
    switch (claims.kind) {
      case 'operator':
        return { kind: 'operator', tokenId: claims.id };
      case 'entrypoint':
        return { kind: 'entrypoint', tokenId: claims.id, deploymentId: claims.deployment! };
      case 'invite':
        throw permissionDenied(
          `an invite token cannot call ${rpc}: exchange it for an entrypoint token with ConvertInviteToken first`,
        );
      case 'url':
        throw permissionDenied(`a URL token cannot call ${rpc}: it only goes in a tunnel's Register request`);
    }
  }

  /** The claims of an invite token, for ConvertInviteToken. */
  invite(token: string): TokenClaims {
    if (!token.trim()) throw unauthenticated('ConvertInviteToken needs the invite token in its request');
    const claims = this.valid(token);
    if (claims.kind !== 'invite') {
      throw permissionDenied(`that is an ${claims.kind} token, not an invite token: use the invite of \`waypoint-ctl deployment create\``);
    }
    if (!this.store.deployment(claims.deployment!)) {
      throw permissionDenied(`the invite's deployment ${claims.deployment} no longer exists: create a new deployment`);
    }
    if (this.store.exchanges(claims.id) >= MAX_EXCHANGES_PER_INVITE) {
      throw new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `this invite was exchanged ${MAX_EXCHANGES_PER_INVITE} times, its limit: make a new one with \`waypoint-ctl deployment invite ${claims.deployment}\``,
      );
    }
    return claims;
  }

  /** A signed token whose record exists and is not revoked. */
  private valid(token: string): TokenClaims {
    const verified = this.signer.verify(token);
    if (!verified.ok) throw unauthenticated(`invalid token: ${verified.reason}`);
    const { claims } = verified;
    // A URL token has no record of its own (it is made from its deployment): the caller refuses it.
    if (claims.kind === 'url') return claims;
    const record = this.store.token(claims.id);
    if (!record || record.kind !== claims.kind || record.deploymentId !== claims.deployment) {
      throw unauthenticated('unknown token: this server has no record of it (was its data dir reset?); get a new one');
    }
    if (record.revokedAt !== undefined) throw unauthenticated(`this ${claims.kind} token was revoked: get a new one`);
    if (record.expiresAt !== undefined && nowSeconds() >= record.expiresAt) {
      throw unauthenticated(
        `this ${claims.kind} token expired at ${new Date(record.expiresAt * 1000).toISOString()}: ` +
          `make a new one with \`waypoint-ctl deployment invite ${claims.deployment ?? ''}\``,
      );
    }
    return claims;
  }
}

/** Our control API, and anything not tied to one deployment: the operator only. */
export function requireOperator(principal: Principal, rpc: string): void {
  if (principal.kind !== 'operator') {
    throw permissionDenied(`an entrypoint token cannot call ${rpc}: it needs the operator token`);
  }
}

/** Entrypoint RPCs: the operator, or an entrypoint token of that very deployment. */
export function requireDeployment(principal: Principal, deploymentId: string, rpc: string): void {
  if (principal.kind === 'entrypoint' && principal.deploymentId !== deploymentId) {
    throw permissionDenied(
      `this entrypoint token belongs to deployment ${principal.deploymentId}, not ${deploymentId || '(none)'}: ${rpc} refused`,
    );
  }
}
