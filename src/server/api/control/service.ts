// Our operator API (waypoint_entrypoint.control.v1.Control): what `waypoint-ctl` calls. Every
// RPC needs the operator token; an entrypoint token gets PERMISSION_DENIED.
import type { handleUnaryCall, Metadata, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { CreateDeploymentRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/CreateDeploymentRequest.js';
import type { CreateDeploymentResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/CreateDeploymentResponse.js';
import type { Deployment as DeploymentMessage } from '../../../protocol/generated/waypoint_entrypoint/control/v1/Deployment.js';
import type { ListDeploymentsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListDeploymentsRequest.js';
import type { ListDeploymentsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListDeploymentsResponse.js';
import type { ListInstancesRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListInstancesRequest.js';
import type { ListInstancesResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListInstancesResponse.js';
import type { GetConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigRequest.js';
import type { SetConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigRequest.js';
import type { ListUrlsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListUrlsRequest.js';
import type { CreateInviteRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/CreateInviteRequest.js';
import type { InviteTtl__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/InviteTtl.js';
import type { ListTokensRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListTokensRequest.js';
import type { RevokeTokenRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/RevokeTokenRequest.js';
import type { SetFileChangeSignalRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetFileChangeSignalRequest.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import { type Actor, actorOf } from '../../audit.js';
import { type Principal, requireOperator } from '../../auth/authenticator.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { getConfig, getConfigSources, getConfigStatus, setConfig, setConfigSource, setFileChangeSignal, unsetConfigSource } from './config.js';
import type { GetConfigSourcesRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigSourcesRequest.js';
import type { GetConfigStatusRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigStatusRequest.js';
import type { SetConfigSourceRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigSourceRequest.js';
import type { UnsetConfigSourceRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/UnsetConfigSourceRequest.js';
import { execCall, listExecSessions } from './exec.js';
import { getLogs } from './logs.js';
import { createInvite, issueInvite, listTokens, revokeToken, rotateOperatorToken } from './tokens.js';
import { listUrls } from './urls.js';
import { listInstances, listReplicas } from './replicas.js';
import { invalidArgument, reported } from '../../rpc/status.js';
import { type Deployment, StoreError } from '../../store/store.js';

const MAX_LABELS = 64;
const MAX_LABEL_LENGTH = 256;

export function controlHandlers(ctx: ServerContext): UntypedServiceImplementation {
  return {
    CreateDeployment: operatorCall(ctx, 'CreateDeployment', async (req: CreateDeploymentRequest__Output, actor): Promise<CreateDeploymentResponse> => {
      const { deployment, inviteToken, inviteExpiresAt } = await newDeployment(ctx, req.app, req.labels, req.invite_ttl, actor);
      return {
        deployment: deploymentMessage(deployment),
        invite_token: inviteToken,
        ...(inviteExpiresAt !== undefined && { invite_expires_at: toTimestamp(inviteExpiresAt) }),
      };
    }),
    ListDeployments: operatorCall(ctx, 'ListDeployments', async (req: ListDeploymentsRequest__Output): Promise<ListDeploymentsResponse> => ({
      deployments: (await ctx.store.deployments(req.app)).map(deploymentMessage),
    })),
    ListInstances: operatorCall(ctx, 'ListInstances', (req: ListInstancesRequest__Output): Promise<ListInstancesResponse> => listInstances(ctx, req.app)),
    ListReplicas: operatorCall(ctx, 'ListReplicas', () => listReplicas(ctx)),
    SetConfig: operatorCall(ctx, 'SetConfig', (req: SetConfigRequest__Output, actor) => setConfig(ctx.appConfig, req, actor)),
    GetConfig: operatorCall(ctx, 'GetConfig', (req: GetConfigRequest__Output) => getConfig(ctx.appConfig, req)),
    SetFileChangeSignal: operatorCall(ctx, 'SetFileChangeSignal', (req: SetFileChangeSignalRequest__Output, actor) =>
      setFileChangeSignal(ctx.appConfig, req, actor),
    ),
    SetConfigSource: operatorCall(ctx, 'SetConfigSource', (req: SetConfigSourceRequest__Output, actor) => setConfigSource(ctx.appConfig, req, actor)),
    UnsetConfigSource: operatorCall(ctx, 'UnsetConfigSource', (req: UnsetConfigSourceRequest__Output, actor) =>
      unsetConfigSource(ctx.appConfig, req, actor),
    ),
    GetConfigSources: operatorCall(ctx, 'GetConfigSources', (req: GetConfigSourcesRequest__Output) => getConfigSources(ctx.appConfig, req)),
    GetConfigStatus: operatorCall(ctx, 'GetConfigStatus', (req: GetConfigStatusRequest__Output) => getConfigStatus(ctx.registry, ctx.replicas, req)),
    GetLogs: getLogs(ctx, (metadata, rpc) => authorize(ctx, metadata, rpc)),
    Exec: execCall(ctx, (metadata, rpc) => authorize(ctx, metadata, rpc)),
    ListExecSessions: listExecSessions(ctx, (metadata, rpc) => authorize(ctx, metadata, rpc)),
    ListUrls: operatorCall(ctx, 'ListUrls', (req: ListUrlsRequest__Output) => listUrls(ctx, req)),
    CreateInvite: operatorCall(ctx, 'CreateInvite', (req: CreateInviteRequest__Output, actor) => createInvite(ctx, req, actor)),
    ListTokens: operatorCall(ctx, 'ListTokens', (req: ListTokensRequest__Output) => listTokens(ctx, req)),
    RevokeToken: operatorCall(ctx, 'RevokeToken', (req: RevokeTokenRequest__Output, actor) => revokeToken(ctx, req, actor)),
    RotateOperatorToken: operatorCall(ctx, 'RotateOperatorToken', (_req: unknown, actor) => rotateOperatorToken(ctx, actor)),
  };
}

/** Creates the app if new, a deployment of it, and the invite its instances exchange; `actor`: who asked (none: `dev`, in-process). */
export async function newDeployment(
  ctx: ServerContext,
  app: string,
  labels: Record<string, string>,
  ttl?: InviteTtl__Output | null,
  actor?: Actor,
): Promise<{ deployment: Deployment; inviteToken: string; inviteExpiresAt?: number }> {
  validateLabels(labels);
  let deployment: Deployment;
  try {
    deployment = await ctx.store.createDeployment(app, labels);
  } catch (err) {
    if (err instanceof StoreError) throw invalidArgument(err.message);
    throw err;
  }
  const invite = await issueInvite(ctx, deployment, ttl);
  ctx.log.info('deployment created', { event: 'deployment.create', app: deployment.app, deployment: deployment.id, invite_id: invite.id, ...actor });
  return { deployment, inviteToken: invite.token, ...(invite.expiresAt !== undefined && { inviteExpiresAt: invite.expiresAt }) };
}

/** A unary handler that first checks the API version and the operator token; `handle` gets the caller for the audit trail. */
function operatorCall<Req, Res>(ctx: ServerContext, rpc: string, handle: (req: Req, actor: Actor) => Res | Promise<Res>): handleUnaryCall<Req, Res> {
  return async (call, callback) => {
    try {
      const principal = await authorize(ctx, call.metadata, rpc);
      callback(null, await handle(call.request, actorOf(principal, call.getPeer())));
    } catch (err) {
      callback(reported(ctx.log, err, rpc));
    }
  };
}

async function authorize(ctx: ServerContext, metadata: Metadata, rpc: string): Promise<Principal> {
  checkClientProtocols(metadata, ['api']);
  const principal = await ctx.auth.principal(metadata, rpc);
  requireOperator(principal, rpc);
  return principal;
}

function validateLabels(labels: Record<string, string>): void {
  const entries = Object.entries(labels);
  if (entries.length > MAX_LABELS) throw invalidArgument(`too many labels (${entries.length}): at most ${MAX_LABELS}`);
  for (const [key, value] of entries) {
    if (key.trim() === '') throw invalidArgument('a label needs a name: use key=value');
    if (key.length > MAX_LABEL_LENGTH || value.length > MAX_LABEL_LENGTH) {
      throw invalidArgument(`label ${JSON.stringify(key.slice(0, 40))} is too long: at most ${MAX_LABEL_LENGTH} characters each`);
    }
  }
}

function deploymentMessage(d: Deployment): DeploymentMessage {
  return { id: d.id, app: d.app, labels: d.labels, created_at: toTimestamp(d.createdAt) };
}
