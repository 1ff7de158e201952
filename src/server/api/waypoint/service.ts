// The five Waypoint RPCs an entrypoint calls. Every call is checked in the same order: client
// protocol versions, then the token, then the request.
import http2 from 'node:http2';
import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerWritableStream,
  UntypedServiceImplementation,
} from '@grpc/grpc-js';
import type { Empty } from '../../../protocol/generated/google/protobuf/Empty.js';
import type { ConvertInviteTokenRequest__Output } from '../../../protocol/generated/hashicorp/waypoint/ConvertInviteTokenRequest.js';
import type { EntrypointConfigRequest__Output } from '../../../protocol/generated/hashicorp/waypoint/EntrypointConfigRequest.js';
import type { EntrypointConfigResponse } from '../../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { GetVersionInfoResponse } from '../../../protocol/generated/hashicorp/waypoint/GetVersionInfoResponse.js';
import type { NewTokenResponse } from '../../../protocol/generated/hashicorp/waypoint/NewTokenResponse.js';
import { INLINE_KEEPALIVE_BYTES } from '../../../protocol/keepalive.js';
import { PROTOCOL_VERSIONS, wantsInlineKeepalives } from '../../../protocol/metadata.js';
import { requireDeployment } from '../../auth/authenticator.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { checkInstanceId, type InstanceInfo } from '../../instances/registry.js';
import type { Deployment } from '../../store/store.js';
import { formatPeer } from '../../../rules/listen.js';
import { ConfigSender } from '../../config/sender.js';
import { KeepaliveWheel } from '../../config/keepalive-wheel.js';
import { shedSpentCallState } from '../../config/lean-call.js';
import { protocol } from '../../../protocol/load.js';
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
  return async (call) => {
    let admitted: Admitted;
    try {
      admitted = await admit(ctx, call.metadata, call.request, call.getPeer());
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'EntrypointConfig'));
      return;
    }
    if (call.cancelled) return;
    const inlineKeepalives = wantsInlineKeepalives(call.metadata);
    forgetRequestMetadata(call.metadata);
    shedSpentCallState(call);
    openConfigStream(ctx, call, admitted, inlineKeepalives ? keepalives : undefined);
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

interface Admitted {
  info: InstanceInfo;
  deployment: Deployment;
}

/** Checks an EntrypointConfig call and describes the instance it registers. */
async function admit(ctx: ServerContext, metadata: Metadata, req: EntrypointConfigRequest__Output, peer: string): Promise<Admitted> {
  checkClientProtocols(metadata, ENTRYPOINT_PROTOCOLS);
  const principal = await ctx.auth.principal(metadata, 'EntrypointConfig');
  if (!req.deployment_id) throw invalidArgument('EntrypointConfig needs a deployment_id (WAYPOINT_DEPLOYMENT_ID)');
  requireDeployment(principal, req.deployment_id, 'EntrypointConfig');
  if (!req.instance_id) throw invalidArgument('EntrypointConfig needs an instance_id');
  checkInstanceId(req.instance_id, 'EntrypointConfig');
  const deployment = await ctx.store.deployment(req.deployment_id);
  if (!deployment) throw new RpcError(Status.NOT_FOUND, `deployment ${req.deployment_id} does not exist`);
  const info: InstanceInfo = {
    id: req.instance_id,
    deploymentId: deployment.id,
    app: deployment.app,
    type: req.type,
    execDisabled: req.disable_exec,
    connectedSince: Date.now(),
    remoteAddress: formatPeer(peer),
    tokenId: principal.tokenId,
  };
  return { info, deployment };
}

/**
 * Registers the instance, sends its config, and keeps the stream open (with inline keepalives
 * when the client asked for them) until the client goes away, however it goes.
 */
function openConfigStream(
  ctx: ServerContext,
  call: ServerWritableStream<EntrypointConfigRequest__Output, EntrypointConfigResponse>,
  { info, deployment }: Admitted,
  keepalives: KeepaliveWheel | undefined,
): void {
  let dropped = false;
  const open = () => !dropped && !call.cancelled && !call.writableEnded;
  // The same url_service in every config (the URL token is stable), so a re-push is no change.
  const urlService = ctx.urls?.configEntry(deployment);
  // M4: pushes to a reader that does not read are not buffered here without end.
  const sender = new ConfigSender<EntrypointConfigResponse>(
    { write: (message, flushed) => call.write(message, flushed) },
    { stallMs: ctx.configStallMs, onStall: () => drop() },
  );
  const sink = {
    // Every config this instance gets, for whatever reason, lists its pending exec requests.
    send: (response: EntrypointConfigResponse) => {
      if (!open()) return;
      sender.send(() => {
        const full = () => {
          const message = ctx.exec.withPending(info.id, response);
          return urlService ? { ...message, config: { ...message.config, url_service: urlService } } : message;
        };
        // Most have no exec pending: the same bytes for every instance of the deployment.
        return ctx.exec.hasPending(info.id) ? full() : encodedOnce(response, urlService?.token ?? '', full);
      });
    },
    close: (error: RpcError) => {
      if (open()) call.emit('error', error);
    },
  };
  let remove: () => void;
  try {
    ctx.logs.checkFree(info.id, info.deploymentId);
    remove = ctx.registry.add(info, sink);
  } catch (err) {
    call.emit('error', reported(ctx.log, err, 'EntrypointConfig'));
    return;
  }
  ctx.logs.registered(info);
  ctx.log.info('instance registered', {
    event: 'instance.register',
    instance: info.id,
    app: info.app,
    deployment: info.deploymentId,
    actor_token: info.tokenId,
    actor_kind: 'entrypoint',
    peer: info.remoteAddress,
  });

  // Raw bytes, not a message: our service definition's serializer passes a Buffer through.
  const rawKeepalive = INLINE_KEEPALIVE_BYTES as unknown as EntrypointConfigResponse;
  // None while a config is in flight: it shows the stream alive when it goes, and keepalives
  // would pile up behind it for a reader that does not read. None before the first config
  // either (it is read from the store first): the config comes first on the stream.
  let stopKeepalives: (() => void) | undefined;
  const startKeepalives = () => {
    if (gone || !keepalives) return;
    stopKeepalives = keepalives.add(() => open() && sender.sendIfIdle(rawKeepalive));
  };

  let gone = false;
  const unregister = () => {
    if (gone) return;
    gone = true;
    stopKeepalives?.();
    sender.stop();
    remove();
    // Not when a newer stream of the same instance replaced this one: that one is live.
    if (!ctx.registry.get(info.id)) {
      ctx.logs.gone(info.id);
      ctx.exec.instanceGone(info.id);
      ctx.urls?.broker.instanceGone(info.id);
    }
    ctx.log.info('instance gone', { event: 'instance.gone', instance: info.id, app: info.app, deployment: info.deploymentId });
  };
  // A status could only follow what is queued, which it does not read: the stream is reset
  // instead (the client sees CANCELLED and reconnects), which lets the config in flight go too.
  const drop = () => {
    dropped = true;
    const stalledFor = `${ctx.configStallMs} ms`;
    ctx.log.warn('instance dropped: it does not read its config stream', { instance: info.id, app: info.app, stalled: stalledFor, queued: call.writableLength });
    unregister();
    if (!resetStream(call)) {
      call.emit('error', new RpcError(Status.RESOURCE_EXHAUSTED, `instance ${info.id} read no config for ${stalledFor}: reconnect and read the stream`));
    }
  };
  call.on('cancelled', unregister); // the client cancelled, or its connection dropped
  call.on('finish', unregister); // we ended the stream (shutdown, replaced)
  call.on('close', unregister);
  if (call.cancelled) unregister();
  else void ctx.appConfig.sendConfig(deployment, sink).then(startKeepalives);
}

/**
 * `full()` (made from `response` for one instance) encoded, once for every instance given the same
 * `response` object: a push to a fleet is one message per deployment (config/app-config.ts), and
 * what an instance adds to it (its URL token) is the same for the whole deployment. The bytes go
 * out as they are (api/definition.ts passes a Buffer through).
 */
function encodedOnce(response: EntrypointConfigResponse, urlToken: string, full: () => EntrypointConfigResponse): EntrypointConfigResponse {
  const cached = encoded.get(response);
  if (cached?.urlToken === urlToken) return cached.bytes as unknown as EntrypointConfigResponse;
  const bytes = encodeConfig(full());
  encoded.set(response, { urlToken, bytes });
  return bytes as unknown as EntrypointConfigResponse;
}

const encoded = new WeakMap<EntrypointConfigResponse, { urlToken: string; bytes: Buffer }>();

function encodeConfig(message: EntrypointConfigResponse): Buffer {
  const method = protocol().hashicorp.waypoint.Waypoint.service.EntrypointConfig;
  return method.responseSerialize(message);
}

/**
 * Resets a call's HTTP/2 stream (RST_STREAM CANCEL). grpc-js has no public way to: its base call
 * (ours have no interceptors) holds the stream. False when that is not where it is.
 */
function resetStream(call: object): boolean {
  const stream = (call as { call?: { stream?: { close?: unknown; destroyed?: boolean } } }).call?.stream;
  if (!stream || typeof stream.close !== 'function' || stream.destroyed) return false;
  (stream as { close(code: number): void }).close(http2.constants.NGHTTP2_CANCEL);
  return true;
}
