// The Tunnel service (waypoint_entrypoint.tunnel.v1), beside Waypoint's on the same port. Both
// RPCs are checked like Waypoint's entrypoint RPCs: client protocol versions, then the token.
// Register makes a live instance an endpoint of its app's URLs: only the entrypoint token that
// registered the instance may, and only with its deployment's URL token. Connect carries one
// connection the server asked for on that endpoint (see broker.ts).
import type { handleBidiStreamingCall, handleServerStreamingCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ConnectRequest__Output } from '../../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectRequest.js';
import type { ConnectResponse } from '../../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectResponse.js';
import type { RegisterRequest__Output } from '../../protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterRequest.js';
import type { RegisterResponse } from '../../protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterResponse.js';
import { type Principal, requireDeployment } from '../auth/authenticator.js';
import { checkClientProtocols } from '../rpc/compat.js';
import type { ServerContext } from '../context.js';
import { failedPrecondition, invalidArgument, permissionDenied, reported, type RpcError } from '../rpc/status.js';
import { firstMessage } from '../rpc/first-message.js';
import type { TunnelEndpoint } from './broker.js';
import { checkUrlToken } from './url-token.js';
import type { UrlService } from './urls.js';

const ENTRYPOINT_PROTOCOLS = ['api', 'entrypoint'] as const;

/** What the handlers need of the server: its context minus what only Waypoint's RPCs use. */
export type TunnelContext = Pick<ServerContext, 'auth' | 'registry' | 'signer' | 'urls' | 'log' | 'inlineKeepaliveMs' | 'firstMessageTimeoutMs'>;

export function tunnelHandlers(ctx: TunnelContext): UntypedServiceImplementation {
  return { Register: register(ctx, ctx.urls), Connect: connect(ctx, ctx.urls) };
}

function serviceOn(urls: UrlService | undefined): UrlService {
  if (!urls) throw failedPrecondition('the URL service is off on this server (it runs with --http-listen off)');
  return urls;
}

function register(ctx: TunnelContext, maybeUrls: UrlService | undefined): handleServerStreamingCall<RegisterRequest__Output, RegisterResponse> {
  return async (call) => {
    let endpoint: TunnelEndpoint;
    let urls: UrlService;
    let lastWrite = Date.now();
    const open = () => !call.cancelled && !call.writableEnded;
    const write = (message: RegisterResponse) => {
      if (!open()) return;
      lastWrite = Date.now();
      call.write(message);
    };
    try {
      checkClientProtocols(call.metadata, ENTRYPOINT_PROTOCOLS);
      const principal = await ctx.auth.principal(call.metadata, 'Register');
      if (call.cancelled) return;
      urls = serviceOn(maybeUrls);
      const { instance_id: instanceId, token } = call.request;
      if (!instanceId) throw invalidArgument('Register needs an instance_id');
      const live = ctx.registry.get(instanceId);
      if (!live) throw failedPrecondition(`instance ${JSON.stringify(instanceId)} is not registered: open its EntrypointConfig stream first`);
      const { info } = live;
      requireDeployment(principal, info.deploymentId, 'Register');
      if (principal.tokenId !== info.tokenId) {
        throw permissionDenied(`instance ${instanceId} was registered by another token: only that token may register its tunnel`);
      }
      checkUrlToken(ctx.signer, token, info.deploymentId);
      endpoint = {
        instanceId,
        deploymentId: info.deploymentId,
        app: info.app,
        tokenId: info.tokenId,
        inFlight: 0,
        open: (connectionId) => write({ open: { connection_id: connectionId } }),
        close: (error: RpcError) => {
          if (open()) call.emit('error', error);
        },
      };
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'Register'));
      return;
    }

    write({ registered: { urls: [urls.appUrl(endpoint.app), urls.deploymentUrl(endpoint.app, endpoint.deploymentId)] } });
    urls.broker.add(endpoint);
    ctx.log.info('tunnel registered', { instance: endpoint.instanceId, app: endpoint.app, port: call.request.port });
    // Idle streams get a ping now and then, for proxies that cut quiet streams.
    const pinger = setInterval(() => {
      if (Date.now() - lastWrite >= ctx.inlineKeepaliveMs) write({ ping: {} });
    }, ctx.inlineKeepaliveMs);

    let gone = false;
    const unregister = () => {
      if (gone) return;
      gone = true;
      clearInterval(pinger);
      urls.broker.remove(endpoint);
      ctx.log.info('tunnel closed', { instance: endpoint.instanceId, app: endpoint.app });
    };
    call.on('cancelled', unregister);
    call.on('finish', unregister);
    call.on('close', unregister);
    if (call.cancelled) unregister();
  };
}

function connect(ctx: TunnelContext, maybeUrls: UrlService | undefined): handleBidiStreamingCall<ConnectRequest__Output, ConnectResponse> {
  return async (call) => {
    let principal: Principal;
    let urls: UrlService;
    try {
      checkClientProtocols(call.metadata, ENTRYPOINT_PROTOCOLS);
      principal = await ctx.auth.principal(call.metadata, 'Connect');
      if (call.cancelled) return;
      urls = serviceOn(maybeUrls);
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'Connect'));
      return;
    }
    const refuse = (err: unknown) => call.emit('error', reported(ctx.log, err, 'Connect'));
    firstMessage<ConnectRequest__Output>(call, { rpc: 'Connect', message: 'accept', timeoutMs: ctx.firstMessageTimeoutMs }, (m) => {
      try {
        if (m.event !== 'accept' || !m.accept) throw invalidArgument(`the first message of Connect must be accept, not ${m.event ?? 'an empty one'}`);
        // The connection takes the call over from here: its own 'data' listener, and its reads resume the call.
        urls.broker.accept(m.accept.connection_id, m.accept.instance_id, principal, call);
        call.resume();
      } catch (err) {
        refuse(err);
      }
    }, refuse);
  };
}
