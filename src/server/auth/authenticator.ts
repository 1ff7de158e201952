// server/auth/ owns trust: tokens are signed here and every call's token is checked here, so
// that no other part of the server decides who a caller is or what it may do.
//
// Who is calling: the token of a call, checked for its signature and then for its record (a
// revoked or unknown token is refused even when well signed), turned into a principal; and
// what each principal may do.
import type { Metadata } from '@grpc/grpc-js';
import { tokenOf } from '../../protocol/metadata.js';
import { permissionDenied, RpcError, Status, unauthenticated } from '../rpc/status.js';
import type { Exchange, Store, TokenRecord } from '../store/store.js';
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
  async principal(metadata: Metadata, rpc: string): Promise<Principal> {
    const token = tokenOf((key) => metadata.get(key));
    if (!token) throw unauthenticated(`${rpc} needs a token: send it in the "authorization" metadata`);
    return this.principalOf(token, rpc);
  }

  /** The caller a token stands for, however it came (gRPC metadata, an HTTP header). */
  async principalOf(token: string, rpc: string): Promise<Principal> {
    const claims = await this.valid(token);
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

  /**
   * ConvertInviteToken: an entrypoint token for an invite token. The checks are made twice: here
   * for their messages, and again by the store in the transaction that records the new token.
   */
  async exchange(token: string): Promise<{ invite: TokenClaims; claims: TokenClaims }> {
    const invite = await this.invite(token);
    const exchange: Exchange = await this.store.exchangeInvite(invite.id, MAX_EXCHANGES_PER_INVITE);
    if (exchange.ok) return { invite, claims: exchange.claims };
    if (exchange.reason === 'exhausted') throw exhausted(invite);
    const record = await this.store.token(invite.id);
    throw refusal(invite, record) ?? unauthenticated(`this invite token cannot be exchanged now (${exchange.reason}): get a new one`);
  }

  /** The claims of an invite token, checked. */
  private async invite(token: string): Promise<TokenClaims> {
    if (!token.trim()) throw unauthenticated('ConvertInviteToken needs the invite token in its request');
    const claims = await this.valid(token);
    if (claims.kind !== 'invite') {
      throw permissionDenied(`that is an ${claims.kind} token, not an invite token: use the invite of \`waypoint-ctl deployment create\``);
    }
    if (!(await this.store.deployment(claims.deployment!))) {
      throw permissionDenied(`the invite's deployment ${claims.deployment} no longer exists: create a new deployment`);
    }
    if ((await this.store.exchanges(claims.id)) >= MAX_EXCHANGES_PER_INVITE) throw exhausted(claims);
    return claims;
  }

  /** A signed token whose record exists and is not revoked. */
  private async valid(token: string): Promise<TokenClaims> {
    const verified = this.signer.verify(token);
    if (!verified.ok) throw unauthenticated(`invalid token: ${verified.reason}`);
    const { claims } = verified;
    // A URL token has no record of its own (it is made from its deployment): the caller refuses it.
    if (claims.kind === 'url') return claims;
    const problem = refusal(claims, await this.store.token(claims.id));
    if (problem) throw problem;
    return claims;
  }
}

/** Why a well-signed token is refused, given its record; undefined: it is valid. */
function refusal(claims: TokenClaims, record: TokenRecord | undefined): RpcError | undefined {
  if (!record || record.kind !== claims.kind || record.deploymentId !== claims.deployment) {
    return unauthenticated('unknown token: this server has no record of it (was its data dir reset?); get a new one');
  }
  if (record.revokedAt !== undefined) return unauthenticated(`this ${claims.kind} token was revoked: get a new one`);
  if (record.expiresAt !== undefined && nowSeconds() >= record.expiresAt) {
    return unauthenticated(
      `this ${claims.kind} token expired at ${new Date(record.expiresAt * 1000).toISOString()}: ` +
        `make a new one with \`waypoint-ctl deployment invite ${claims.deployment ?? ''}\``,
    );
  }
  return undefined;
}

function exhausted(invite: TokenClaims): RpcError {
  return new RpcError(
    Status.RESOURCE_EXHAUSTED,
    `this invite was exchanged ${MAX_EXCHANGES_PER_INVITE} times, its limit: make a new one with \`waypoint-ctl deployment invite ${invite.deployment}\``,
  );
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
