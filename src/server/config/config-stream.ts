// The server end of one admitted EntrypointConfig stream: registers the instance, sends its
// config, and keeps the stream open (with inline keepalives when the client asked for them)
// until the client goes away, however it goes.
//
// One object with methods, not a closure per part: a fleet's server holds one per instance
// (10 000), and each closure with its context cost more than the field that replaces it. It is
// the instance's sink in the registry, and the call and options of its ConfigSender.
import http2 from 'node:http2';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { EntrypointConfigRequest__Output } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigRequest.js';
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { _hashicorp_waypoint_EntrypointConfig_URLService as URLServiceMessage } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import { INLINE_KEEPALIVE_BYTES } from '../../protocol/keepalive.js';
import { protocol } from '../../protocol/load.js';
import type { ServerContext } from '../context.js';
import type { ConfigSink, InstanceInfo } from '../instances/registry.js';
import { reported, RpcError, Status } from '../rpc/status.js';
import type { Deployment } from '../store/store.js';
import type { KeepaliveWheel } from './keepalive-wheel.js';
import { type ConfigCall, ConfigSender, type ConfigSenderOptions } from './sender.js';

type Call = ServerWritableStream<EntrypointConfigRequest__Output, EntrypointConfigResponse>;

// Raw bytes, not a message: our service definition's serializer passes a Buffer through.
const RAW_KEEPALIVE = INLINE_KEEPALIVE_BYTES as unknown as EntrypointConfigResponse;

/** Registers `info` on `call` and serves its config stream (see above). */
export function openConfigStream(ctx: ServerContext, call: Call, info: InstanceInfo, deployment: Deployment, keepalives: KeepaliveWheel | undefined): void {
  new ConfigStream(ctx, call, info, deployment, keepalives).start(deployment);
}

class ConfigStream implements ConfigSink, ConfigCall<EntrypointConfigResponse>, ConfigSenderOptions {
  private dropped = false;
  private gone = false;
  /** M4: pushes to a reader that does not read are not buffered here without end. */
  private readonly sender: ConfigSender<EntrypointConfigResponse>;
  /** The same url_service in every config (the URL token is stable), so a re-push is no change. */
  private readonly urlService: URLServiceMessage | undefined;
  private remove?: () => void;
  private stopKeepalives?: () => void;
  private keepalives?: KeepaliveWheel;

  constructor(
    private readonly ctx: ServerContext,
    private readonly call: Call,
    private readonly info: InstanceInfo,
    deployment: Deployment,
    keepalives: KeepaliveWheel | undefined,
  ) {
    this.urlService = ctx.urls?.configEntry(deployment);
    this.sender = new ConfigSender<EntrypointConfigResponse>(this, this);
    this.keepalives = keepalives;
  }

  get stallMs(): number {
    return this.ctx.configStallMs;
  }

  start(deployment: Deployment): void {
    const { ctx, call, info } = this;
    try {
      ctx.logs.checkFree(info.id, info.deploymentId);
      this.remove = ctx.registry.add(info, this);
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
    const unregister = () => this.unregister();
    call.on('cancelled', unregister); // the client cancelled, or its connection dropped
    call.on('finish', unregister); // we ended the stream (shutdown, replaced)
    call.on('close', unregister);
    if (call.cancelled) unregister();
    else void ctx.appConfig.sendConfig(deployment, this).then(() => this.startKeepalives());
  }

  /** Every config this instance gets, for whatever reason, lists its pending exec requests. */
  send(response: EntrypointConfigResponse): void {
    if (!this.open()) return;
    const { ctx, info, urlService } = this;
    this.sender.send(() => {
      const full = () => {
        const message = ctx.exec.withPending(info.id, response);
        return urlService ? { ...message, config: { ...message.config, url_service: urlService } } : message;
      };
      // Most have no exec pending: the same bytes for every instance of the deployment.
      return ctx.exec.hasPending(info.id) ? full() : encodedOnce(response, urlService?.token ?? '', full);
    });
  }

  close(error: RpcError): void {
    if (this.open()) this.call.emit('error', error);
  }

  /** ConfigSender's way out. */
  write(message: EntrypointConfigResponse, flushed: () => void): boolean {
    return this.call.write(message, flushed);
  }

  /**
   * A reader that does not read. A status could only follow what is queued, which it does not
   * read: the stream is reset instead (the client sees CANCELLED and reconnects), which lets the
   * config in flight go too.
   */
  onStall(): void {
    const { ctx, call, info } = this;
    this.dropped = true;
    const stalledFor = `${ctx.configStallMs} ms`;
    ctx.log.warn('instance dropped: it does not read its config stream', { instance: info.id, app: info.app, stalled: stalledFor, queued: call.writableLength });
    this.unregister();
    if (!resetStream(call)) {
      call.emit('error', new RpcError(Status.RESOURCE_EXHAUSTED, `instance ${info.id} read no config for ${stalledFor}: reconnect and read the stream`));
    }
  }

  private open(): boolean {
    return !this.dropped && !this.call.cancelled && !this.call.writableEnded;
  }

  /**
   * None while a config is in flight: it shows the stream alive when it goes, and keepalives
   * would pile up behind it for a reader that does not read. None before the first config
   * either (it is read from the store first): the config comes first on the stream.
   */
  private startKeepalives(): void {
    const wheel = this.keepalives;
    this.keepalives = undefined;
    if (this.gone || !wheel) return;
    this.stopKeepalives = wheel.add(() => this.open() && this.sender.sendIfIdle(RAW_KEEPALIVE));
  }

  private unregister(): void {
    if (this.gone) return;
    this.gone = true;
    const { ctx, info } = this;
    this.stopKeepalives?.();
    this.sender.stop();
    this.remove?.();
    // Not when a newer stream of the same instance replaced this one: that one is live.
    if (!ctx.registry.get(info.id)) {
      ctx.logs.gone(info.id);
      ctx.exec.instanceGone(info.id);
      ctx.urls?.broker.instanceGone(info.id);
    }
    ctx.log.info('instance gone', { event: 'instance.gone', instance: info.id, app: info.app, deployment: info.deploymentId });
  }
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
