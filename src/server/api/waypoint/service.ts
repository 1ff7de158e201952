// The five Waypoint RPCs an entrypoint calls. Every call is checked in the same order: client
// protocol versions, then the token, then the request.
import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Empty } from '../../../protocol/generated/google/protobuf/Empty.js';
import type { ConvertInviteTokenRequest__Output } from '../../../protocol/generated/hashicorp/waypoint/ConvertInviteTokenRequest.js';
import type { EntrypointConfigRequest__Output } from '../../../protocol/generated/hashicorp/waypoint/EntrypointConfigRequest.js';
import type { EntrypointConfigResponse } from '../../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { GetVersionInfoResponse } from '../../../protocol/generated/hashicorp/waypoint/GetVersionInfoResponse.js';
import type { NewTokenResponse } from '../../../protocol/generated/hashicorp/waypoint/NewTokenResponse.js';
import { PROTOCOL_VERSIONS, wantsInlineKeepalives } from '../../../protocol/metadata.js';
import { requireDeployment } from '../../auth/authenticator.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { checkInstanceId, type InstanceInfo } from '../../instances/registry.js';
import type { Deployment } from '../../store/store.js';
import { formatPeer } from '../../../rules/listen.js';
import { openConfigStream } from '../../config/config-stream.js';
import { KeepaliveWheel } from '../../config/keepalive-wheel.js';
import { shedSpentCallState } from '../../config/lean-call.js';
import { entrypointExecStream } from './exec-stream.js';
import { entrypointLogStream } from './log-stream.js';
import { invalidArgument, reported, RpcError, Status } from '../../rpc/status.js';

const ENTRYPOINT_PROTOCOLS = ['api', 'entrypoint'] as const;


export function waypointHandlers(ctx: ServerContext): UntypedServiceImplementation {
  return {
    GetVersionInfo: getVersionInfo(ctx),
    ConvertInviteToken: convertInviteToken(ctx),
    EntrypointConfig: entrypointConfig(ctx),
    EntrypointLogStream: entrypointLogStream(ctx, ENTRYPOINT_PROTOCOLS),
    EntrypointExecStream: entrypointExecStream(ctx, ENTRYPOINT_PROTOCOLS),
  };
}

/** Needs no token: a client asks it before anything else, to decide whether to go on. */
function getVersionInfo(ctx: ServerContext): handleUnaryCall<Empty, GetVersionInfoResponse> {
  return (_call, callback) => {
    callback(null, {
      info: { api: PROTOCOL_VERSIONS.api, entrypoint: PROTOCOL_VERSIONS.entrypoint, version: ctx.version },
      server_features: { features: ['FEATURE_INLINE_KEEPALIVES'] },
    });
  };
}

/** Needs no token either: the invite in the request is the credential. */
function convertInviteToken(ctx: ServerContext): handleUnaryCall<ConvertInviteTokenRequest__Output, NewTokenResponse> {
  return async (call, callback) => {
    try {
      checkClientProtocols(call.metadata, ENTRYPOINT_PROTOCOLS);
      const { invite, claims } = await ctx.auth.exchange(call.request.token);
      ctx.log.info('invite exchanged for an entrypoint token', {
        event: 'token.exchange',
        deployment: invite.deployment,
        token_id: claims.id,
        actor_token: invite.id,
        actor_kind: 'invite',
        peer: formatPeer(call.getPeer()),
      });
      callback(null, { token: ctx.signer.sign(claims) });
    } catch (err) {
      callback(reported(ctx.log, err, 'ConvertInviteToken'));
    }
  };
}

function entrypointConfig(ctx: ServerContext): handleServerStreamingCall<EntrypointConfigRequest__Output, EntrypointConfigResponse> {
  const keepalives = new KeepaliveWheel(ctx.inlineKeepaliveMs);
  const names = sharedNames();
  return async (call) => {
    let admitted: Admitted;
    try {
      admitted = await admit(ctx, call.metadata, call.request, call.getPeer(), names);
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'EntrypointConfig'));
      return;
    }
    if (call.cancelled) return;
    const inlineKeepalives = wantsInlineKeepalives(call.metadata);
    forgetRequestMetadata(call.metadata);
    shedSpentCallState(call);
    openConfigStream(ctx, call, admitted.info, admitted.deployment, inlineKeepalives ? keepalives : undefined);
  };
}

/**
 * Empties a config stream's request metadata once it is read: grpc-js keeps it for the stream's
 * life, and it holds the entrypoint's token twice and its other headers (~1.5 KiB of heap per
 * instance, a fleet's 10 000 times over). Nothing reads it after admission.
 */
function forgetRequestMetadata(metadata: Metadata): void {
  for (const key of Object.keys(metadata.getMap())) metadata.remove(key);
}

interface DeploymentNames {
  id: string;
  app: string;
}

/**
 * The id and app of the deployment admitted last, as one pair of strings kept by every instance
 * registering to it (a fleet's, one after the other) instead of the copy each store read makes.
 */
function sharedNames(): (deployment: Deployment) => DeploymentNames {
  let last: DeploymentNames = { id: '', app: '' };
  return (d) => (last.id === d.id && last.app === d.app ? last : (last = { id: d.id, app: d.app }));
}

interface Admitted {
  info: InstanceInfo;
  deployment: Deployment;
}

/** Checks an EntrypointConfig call and describes the instance it registers. */
async function admit(
  ctx: ServerContext,
  metadata: Metadata,
  req: EntrypointConfigRequest__Output,
  peer: string,
  names: (d: Deployment) => DeploymentNames,
): Promise<Admitted> {
  checkClientProtocols(metadata, ENTRYPOINT_PROTOCOLS);
  const principal = await ctx.auth.principal(metadata, 'EntrypointConfig');
  if (!req.deployment_id) throw invalidArgument('EntrypointConfig needs a deployment_id (WAYPOINT_DEPLOYMENT_ID)');
  requireDeployment(principal, req.deployment_id, 'EntrypointConfig');
  if (!req.instance_id) throw invalidArgument('EntrypointConfig needs an instance_id');
  checkInstanceId(req.instance_id, 'EntrypointConfig');
  const deployment = await ctx.store.deployment(req.deployment_id);
  if (!deployment) throw new RpcError(Status.NOT_FOUND, `deployment ${req.deployment_id} does not exist`);
  const shared = names(deployment);
  const info: InstanceInfo = {
    id: req.instance_id,
    deploymentId: shared.id,
    app: shared.app,
    type: req.type,
    execDisabled: req.disable_exec,
    connectedSince: Date.now(),
    remoteAddress: formatPeer(peer),
    tokenId: principal.tokenId,
  };
  return { info, deployment };
}
