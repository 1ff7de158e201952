// The token RPCs of our control API: invites (with their expiry), the list of every token issued
// (never a secret: the records only), revocation (which drops the instances a token registered)
// and the operator token's rotation.
import type { CreateInviteRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/CreateInviteRequest.js';
import type { CreateInviteResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/CreateInviteResponse.js';
import type { InviteTtl__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/InviteTtl.js';
import type { ListTokensRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListTokensRequest.js';
import type { ListTokensResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListTokensResponse.js';
import type { RevokeTokenRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/RevokeTokenRequest.js';
import type { RevokeTokenResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/RevokeTokenResponse.js';
import type { RotateOperatorTokenResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/RotateOperatorTokenResponse.js';
import type { TokenInfo } from '../../../protocol/generated/waypoint_entrypoint/control/v1/TokenInfo.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import { MAX_INVITE_TTL_SECONDS } from '../../../rules/invite-ttl.js';
import type { Actor } from '../../audit.js';
import type { ServerContext } from '../../context.js';
import { failedPrecondition, invalidArgument, RpcError, Status, unauthenticated } from '../../rpc/status.js';
import type { Deployment, TokenListing } from '../../store/store.js';

export interface Invite {
  /** Its record's id: what the log and `token list` show. */
  id: string;
  token: string;
  /** ms since the epoch; undefined: never expires. */
  expiresAt?: number;
}

/** A new invite of a deployment; `ttl` as the request gave it (absent: the server's default). */
export async function issueInvite(ctx: ServerContext, deployment: Deployment, ttl: InviteTtl__Output | null | undefined): Promise<Invite> {
  const ttlSeconds = inviteTtlSeconds(ctx, ttl);
  const claims = await ctx.store.issueToken('invite', { deploymentId: deployment.id, ttlSeconds });
  return { id: claims.id, token: ctx.signer.sign(claims), ...(ttlSeconds !== undefined && { expiresAt: (claims.iat + ttlSeconds) * 1000 }) };
}

export async function createInvite(ctx: ServerContext, req: CreateInviteRequest__Output, actor: Actor): Promise<CreateInviteResponse> {
  const deployment = await ctx.store.deployment(req.deployment_id);
  if (!deployment) {
    throw new RpcError(Status.NOT_FOUND, `no deployment ${JSON.stringify(req.deployment_id)}: see \`waypoint-ctl deployment list\``);
  }
  const invite = await issueInvite(ctx, deployment, req.invite_ttl);
  ctx.log.info('invite created', { event: 'invite.create', app: deployment.app, deployment: deployment.id, invite_id: invite.id, ...actor });
  return {
    deployment: { id: deployment.id, app: deployment.app, labels: deployment.labels, created_at: toTimestamp(deployment.createdAt) },
    invite_token: invite.token,
    ...(invite.expiresAt !== undefined && { invite_expires_at: toTimestamp(invite.expiresAt) }),
  };
}

export async function listTokens(ctx: ServerContext, req: ListTokensRequest__Output): Promise<ListTokensResponse> {
  return { tokens: (await ctx.store.tokens({ app: req.app, deploymentId: req.deployment_id })).map(tokenInfo) };
}

/** Revokes an invite (and its entrypoint tokens) or an entrypoint token; drops their instances. */
export async function revokeToken(ctx: ServerContext, req: RevokeTokenRequest__Output, actor: Actor): Promise<RevokeTokenResponse> {
  const record = await ctx.store.token(req.id);
  if (!record) throw new RpcError(Status.NOT_FOUND, `no token with id ${JSON.stringify(req.id)}: see \`waypoint-ctl token list\``);
  if (record.kind === 'operator') {
    throw failedPrecondition('the operator token is not revoked by id: use `waypoint-ctl token rotate-operator`, which makes its successor');
  }
  const revoked = await ctx.store.revokeToken(record.id);
  if (revoked.length === 0) {
    throw failedPrecondition(`token ${record.id} was already revoked at ${new Date(record.revokedAt! * 1000).toISOString()}`);
  }
  const dropped = dropInstances(ctx, new Set(revoked));
  ctx.revocations.revoked(revoked);
  void ctx.replicas.announce({ kind: 'revoked', ids: revoked });
  ctx.log.info('token revoked', {
    event: 'token.revoke',
    token_id: record.id,
    token_kind: record.kind,
    deployment: record.deploymentId,
    revoked_ids: revoked,
    instances_dropped: dropped,
    ...actor,
  });
  return { revoked_ids: revoked, instances_dropped: dropped };
}

export async function rotateOperatorToken(ctx: ServerContext, actor: Actor): Promise<RotateOperatorTokenResponse> {
  const { claims, revoked } = await ctx.store.rotateOperator();
  ctx.revocations.revoked(revoked);
  void ctx.replicas.announce({ kind: 'revoked', ids: revoked });
  ctx.log.info('operator token rotated', { event: 'token.rotate', token_id: claims.id, revoked_ids: revoked, ...actor });
  return { token: ctx.signer.sign(claims), id: claims.id, revoked_ids: revoked };
}

/** Ends the config stream of every live instance registered with one of `tokenIds` (here). */
export function dropInstances(ctx: ServerContext, tokenIds: ReadonlySet<string>): number {
  let dropped = 0;
  for (const info of ctx.registry.list()) {
    if (!tokenIds.has(info.tokenId)) continue;
    ctx.registry.get(info.id)?.sink.close(unauthenticated(`the token of instance ${info.id} was revoked`));
    dropped++;
  }
  return dropped;
}

function inviteTtlSeconds(ctx: ServerContext, ttl: InviteTtl__Output | null | undefined): number | undefined {
  const seconds = Number(ttl?.seconds ?? 0);
  if (ttl?.never_expires) {
    if (seconds !== 0) throw invalidArgument('an invite TTL is either a duration or "never", not both');
    return undefined;
  }
  if (seconds === 0) return ctx.inviteTtlSeconds;
  if (seconds > MAX_INVITE_TTL_SECONDS) throw invalidArgument(`an invite TTL of ${seconds}s is too long: at most 10 years, or "never"`);
  return seconds;
}

function tokenInfo(t: TokenListing): TokenInfo {
  return {
    id: t.id,
    kind: t.kind,
    deployment_id: t.deploymentId ?? '',
    app: t.app ?? '',
    parent_id: t.parentId ?? '',
    created_at: toTimestamp(t.issuedAt * 1000),
    ...(t.expiresAt !== undefined && { expires_at: toTimestamp(t.expiresAt * 1000) }),
    ...(t.revokedAt !== undefined && { revoked_at: toTimestamp(t.revokedAt * 1000) }),
  };
}
