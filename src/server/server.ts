// The one place that builds the server's parts and wires them (as src/entrypoint.ts does for the
// entrypoint); every part gets what it needs from here.
//
// The reference control server: opens its store (a data dir, or PostgreSQL), mints the operator token on first start,
// serves Waypoint's entrypoint RPCs, our control API, our tunnel and instance status services
// on one gRPC port, the URL service's HTTP ingress on another, and stops cleanly.
import * as grpc from '@grpc/grpc-js';
import type { ServerOptions as Http2ServerOptions } from 'node:http2';
import { DEFAULT_INVITE_TTL_SECONDS } from '../rules/invite-ttl.js';
import { Authenticator } from './auth/authenticator.js';
import { Revocations } from './auth/revocations.js';
import type { ServerContext } from './context.js';
import { openStore } from './store/open.js';
import { controlServiceDefinition, statusServiceDefinition, tunnelServiceDefinition, waypointServiceDefinition } from './api/definition.js';
import { controlHandlers, newDeployment } from './api/control/service.js';
import { AppConfig } from './config/app-config.js';
import { Console } from './console/console.js';
import { DEFAULT_EXEC_OPEN_TIMEOUT_MS, ExecBroker } from './exec/broker.js';
import { DEFAULT_FIRST_MESSAGE_TIMEOUT_MS } from './rpc/first-message.js';
import { connectionBudget, INGRESS_FD_SHARE, openFileLimit } from './ingress/fd-budget.js';
import { type Ingress, listenIngress } from './ingress/ingress.js';
import { TrustedProxies } from './ingress/trusted.js';
import { ReplicaIngress } from './ingress/elsewhere.js';
import { PeerHosts } from './ingress/peer-hosts.js';
import { Peers } from './replicas/peers.js';
import { statusHandlers } from './api/status/service.js';
import { InstanceRegistry } from './instances/registry.js';
import { formatAddress, isLoopback, ListenError, parseListen } from '../rules/listen.js';
import { ulid } from '../ids.js';
import { advertisedAddress, joinReplicas, withPort } from './replicas/join.js';
import { PgReplicas } from './replicas/postgres.js';
import type { Replicas } from './replicas/replicas.js';
import { SoloReplicas } from './replicas/solo.js';
import { PgSessionRecords } from './store/postgres/console-sessions.js';
import { DEFAULT_LOG_MEMORY_BYTES, LogHub } from './logs/hub.js';
import { type ServerLog, silentLog } from './log.js';
import { rpcRecords } from './rpc/records.js';
import { Status, toRpcError } from './rpc/status.js';
import type { Deployment, ExecHistory } from './store/store.js';
import { TokenSigner } from './auth/tokens.js';
import { tunnelHandlers } from './tunnel/service.js';
import { UrlService } from './tunnel/urls.js';
import { waypointHandlers } from './api/waypoint/service.js';
import {
  DEFAULT_CONFIG_STALL_MS,
  DEFAULT_INLINE_KEEPALIVE_MS,
  DEFAULT_INSTANCE_LIMITS,
  DEFAULT_KEEPALIVE_TIME_MS,
  DEFAULT_REPLICA_HEARTBEAT_MS,
  DEFAULT_REPLICA_TIMEOUT_MS,
  DEFAULT_URL_MAX_CONNECTIONS,
  type HttpOptions,
  type ServerOptions,
} from './options.js';

export interface RunningServer {
  /** host:port actually bound. */
  address: string;
  /** host:port of the HTTP ingress; undefined when it is off. */
  httpAddress?: string;
  /** The web console's address (http://localhost:<port>/); undefined when it or the HTTP listener is off. */
  consoleUrl?: string;
  /** The URLs of the URL service; undefined when it is off. */
  urls?: UrlService;
  /** The SQLite data dir; undefined on PostgreSQL. */
  dataDir?: string;
  /** Where the state is, for the start banner: "data dir …" or "database postgres://…". */
  storeLocation: string;
  /** True when this start created the operator token (it is shown once). */
  firstStart: boolean;
  operatorToken: string;
  registry: InstanceRegistry;
  /** This server among the replicas of its database (alone on SQLite). */
  replicas: Replicas;
  /** The control API's CreateDeployment, in process (for `waypoint-ctl dev`). */
  createDeployment(app: string, labels?: Record<string, string>): Promise<{ deployment: Deployment; inviteToken: string }>;
  stop(): Promise<void>;
}

export class ServerStartError extends Error {}

/** How long a stop waits for calls in flight before cutting them. */
const SHUTDOWN_GRACE_MS = 2_000;

export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const log = options.log ?? silentLog;
  const listen = parseListen(options.listen);
  const replicaId = ulid();
  const replicaTimeoutMs = options.replica?.timeoutMs ?? DEFAULT_REPLICA_TIMEOUT_MS;
  const opened = await openStore({ dataDir: options.dataDir, databaseUrl: options.databaseUrl, log, replica: { id: replicaId, timeoutMs: replicaTimeoutMs } });
  const { store, key } = opened;
  const signer = new TokenSigner(key.key);
  const { claims, created: firstStart } = await store.ensureOperator().catch(async (err: unknown) => {
    await opened.close();
    throw err;
  });
  if (!firstStart && key.created) log.warn('a new signing key was created for existing state: every token issued before is invalid now');

  let ingress: Ingress | undefined;
  const peerHosts = new PeerHosts();
  const trusted = new TrustedProxies(options.http?.trustedProxies ?? []);
  if (options.http) {
    try {
      ingress = await listenIngress(parseListen(options.http.listen), { ...ingressLimits(options.http, trusted, log), peers: peerHosts }, log, options.rpcRecords === true);
    } catch (err) {
      await opened.close();
      throw err;
    }
  }

  const registry = new InstanceRegistry(options.instanceLimits ?? DEFAULT_INSTANCE_LIMITS);
  const appConfig = new AppConfig(store, opened.config, registry, log);
  const { execHistory } = opened;
  await recordCutSessions(execHistory, log);
  const replicas = opened.database
    ? new PgReplicas({
        id: replicaId,
        version: options.version,
        heartbeatMs: options.replica?.heartbeatMs ?? DEFAULT_REPLICA_HEARTBEAT_MS,
        timeoutMs: replicaTimeoutMs,
        ...opened.database,
        store,
        signer,
        registry,
        log,
      })
    : new SoloReplicas({ id: replicaId, grpcAddress: '', version: options.version, startedAt: Date.now(), heartbeatAt: Date.now(), alive: true }, () => registry.list().length);
  const ctx: ServerContext = {
    store,
    signer,
    auth: new Authenticator(signer, store),
    revocations: new Revocations(),
    registry,
    replicas,
    appConfig,
    logs: new LogHub({ maxTotalBytes: options.logMemoryBytes ?? DEFAULT_LOG_MEMORY_BYTES }),
    exec: new ExecBroker(registry, appConfig, options.execOpenTimeoutMs ?? DEFAULT_EXEC_OPEN_TIMEOUT_MS),
    execHistory,
    log,
    version: options.version,
    inlineKeepaliveMs: options.inlineKeepaliveMs ?? DEFAULT_INLINE_KEEPALIVE_MS,
    firstMessageTimeoutMs: options.firstMessageTimeoutMs ?? DEFAULT_FIRST_MESSAGE_TIMEOUT_MS,
    inviteTtlSeconds: options.inviteTtlSeconds === null ? undefined : (options.inviteTtlSeconds ?? DEFAULT_INVITE_TTL_SECONDS),
    configStallMs: options.configStallMs ?? DEFAULT_CONFIG_STALL_MS,
  };
  if (ingress) {
    const { domain, requestTimeoutMs, maxConcurrent, upgradeIdleTimeoutMs } = options.http!;
    ctx.urls = new UrlService(store, signer, registry, { domain, port: ingress.port, requestTimeoutMs, maxConcurrent, upgradeIdleTimeoutMs, trusted }, replicas);
  }
  // Forwarding to the other replicas (exec, logs, URLs): only where there are others.
  if (ctx.replicas.shared) ctx.peers = new Peers(ctx.replicas, signer, peerCredentials(options.tls));
  const server = new grpc.Server({
    ...serverOptions(options.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS),
    ...(options.rpcRecords && { interceptors: [rpcRecords(log, signer)] }),
  });
  noHeaderTables(server);
  server.addService(waypointServiceDefinition(), waypointHandlers(ctx));
  server.addService(controlServiceDefinition(), controlHandlers(ctx));
  server.addService(tunnelServiceDefinition(), tunnelHandlers(ctx));
  server.addService(statusServiceDefinition(), statusHandlers(ctx));

  let port: number;
  try {
    port = await bind(server, listen.bind, options.tls);
    const grpcAddress = advertisedAddress(options.replica?.advertise, listen.host, port);
    const addresses = { grpcAddress, ...(ingress && { httpAddress: withPort(grpcAddress, ingress.port) }) };
    if (replicas instanceof PgReplicas) await joinReplicas(ctx, replicas, opened.database!.pool, addresses);
    else Object.assign(replicas.self, addresses);
  } catch (err) {
    server.forceShutdown();
    await replicas.close();
    await ingress?.close();
    await opened.close();
    throw err instanceof ListenError ? new ServerStartError(err.message) : err;
  }
  const webConsole =
    ingress && ctx.urls && options.console
      ? new Console(ctx, {
          dir: options.console.dir,
          domain: ctx.urls.settings.domain,
          // Replicas: sessions in the database, so any replica behind a balancer serves a signed-in browser.
          ...(opened.database && { sessionRecords: new PgSessionRecords(opened.database.pool) }),
        })
      : undefined;
  const elsewhere = ingress && ctx.replicas.shared ? new ReplicaIngress(ctx.replicas, signer) : undefined;
  if (elsewhere) peerHosts.watch(ctx.replicas);
  if (ingress && ctx.urls) {
    ingress.serve({ broker: ctx.urls.broker, store, settings: ctx.urls.settings, log, elsewhere }, webConsole);
  }

  if (!options.tls && !isLoopback(listen.host)) {
    log.warn('gRPC without TLS on an address other machines can reach: every token (the operator token too) travels in clear; pass --tls-cert and --tls-key, or listen on 127.0.0.1', {
      listen: formatAddress(listen.host, port),
    });
  }
  return {
    address: formatAddress(listen.host, port),
    ...(ingress && { httpAddress: formatAddress(parseListen(options.http!.listen).host, ingress.port) }),
    ...(ingress && webConsole && { consoleUrl: consoleUrl(parseListen(options.http!.listen).host, ingress.port) }),
    urls: ctx.urls,
    ...(opened.dataDir !== undefined && { dataDir: opened.dataDir }),
    storeLocation: opened.location,
    firstStart,
    operatorToken: signer.sign(claims),
    registry: ctx.registry,
    replicas,
    createDeployment: (app, labels = {}) => newDeployment(ctx, app, labels),
    stop: async () => {
      await ingress?.close(); // no new requests; the tunnels end with the instances below
      elsewhere?.close();
      peerHosts.close();
      await stop(server, ctx, () => opened.close());
    },
  };
}

/**
 * How this replica dials the others: as it serves itself. With TLS it trusts its own certificate
 * (replicas share one, made for every name they are advertised under).
 */
function peerCredentials(tls: ServerOptions['tls']): grpc.ChannelCredentials {
  return tls ? grpc.credentials.createSsl(tls.cert) : grpc.credentials.createInsecure();
}

/** Where a browser on this machine finds the console: localhost for a loopback or any-address listener. */
function consoleUrl(host: string, port: number): string {
  const local = isLoopback(host) || host === '0.0.0.0' || host === '[::]';
  return `http://${local ? 'localhost' : host}:${port}/`;
}

/** Sessions left RUNNING by the last stop failed; a full disk must not keep the server down for it. */
async function recordCutSessions(execHistory: ExecHistory, log: ServerLog): Promise<void> {
  let cut: number;
  try {
    cut = await execHistory.failRunning('server restarted');
  } catch (err) {
    if (toRpcError(err).code !== Status.RESOURCE_EXHAUSTED) throw err;
    log.warn('exec sessions cut short by the last stop could not be recorded as failed: the data dir is out of disk space');
    return;
  }
  if (cut > 0) log.warn('exec sessions cut short by the last stop of the server recorded as failed', { sessions: cut });
}

/** The ingress's limits, its total kept within its share of the open-file limit (said in the log when lowered). */
function ingressLimits(http: HttpOptions, trusted: TrustedProxies, log: ServerLog) {
  const nofile = openFileLimit();
  const budget = connectionBudget(http.maxConnections ?? DEFAULT_URL_MAX_CONNECTIONS, nofile);
  if (budget.lowered) {
    // A value the operator chose is worth a warning; the default fitted to a small limit is not.
    log[http.maxConnections === undefined ? 'info' : 'warn'](`HTTP ingress: at most ${budget.maxConnections} connections, not ${budget.lowered.asked}, so that gRPC and the database keep descriptors`, {
      open_file_limit: budget.lowered.nofile,
      ingress_share: INGRESS_FD_SHARE,
    });
  }
  return {
    headerTimeoutMs: http.headerTimeoutMs,
    keepAliveTimeoutMs: http.keepAliveTimeoutMs,
    maxConnections: budget.maxConnections,
    maxConnectionsPerClient: Math.min(http.maxConnectionsPerClient, budget.maxConnections),
    trusted,
  };
}

function serverOptions(keepaliveTimeMs: number): grpc.ServerOptions {
  return {
    // Ping every client now and then: a dead peer (a host gone without a FIN) is noticed and
    // its instance removed, instead of lingering until TCP gives up hours later.
    'grpc.keepalive_time_ms': keepaliveTimeMs,
    // An unanswered ping means a dead peer after 10 s (or one interval, when pings are faster).
    'grpc.keepalive_timeout_ms': Math.min(10_000, keepaliveTimeMs),
    // Let entrypoints ping us too, even with no call in flight and as often as every 10 s.
    // grpc-js does not police client pings; the settings say what a C-core server would need.
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 10_000,
    // No channelz (nothing here reads it): it tracks every connection and call, ~1 KiB and a
    // little CPU per connection, which a fleet of instances pays 10 000 times over.
    'grpc.enable_channelz': 0,
  };
}

/**
 * HPACK dynamic tables of 0 bytes on our side of every connection: an entrypoint sends headers on
 * a handful of streams in its connection's life, so indexing them saves next to nothing, while the
 * tables held its tokens and headers for the connection's whole life: ~3 KiB of RSS per instance
 * (the fleet bench, 10 000 instances, same CPU). grpc-js has no option for them: they go into the
 * node:http2 options it keeps for its listeners (a grpc-js without that field: nothing changes).
 */
function noHeaderTables(server: grpc.Server): void {
  const http2Options = (server as unknown as { commonServerOptions?: Http2ServerOptions }).commonServerOptions;
  if (!http2Options) return;
  http2Options.maxDeflateDynamicTableSize = 0;
  http2Options.settings = { ...http2Options.settings, headerTableSize: 0 };
}

function bind(server: grpc.Server, address: string, tls?: { cert: Buffer; key: Buffer }): Promise<number> {
  let credentials: grpc.ServerCredentials;
  try {
    credentials = tls
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: tls.cert, private_key: tls.key }], false)
      : grpc.ServerCredentials.createInsecure();
  } catch (err) {
    return Promise.reject(new ServerStartError(`invalid TLS certificate or key: ${(err as Error).message}`));
  }
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (!err) return resolve(port);
      const inUse = /EADDRINUSE/.test(err.message);
      reject(
        new ServerStartError(
          inUse
            ? `cannot listen on ${address}: the address is in use (another server?); pass another --listen`
            : `cannot listen on ${address}: ${err.message}`,
        ),
      );
    });
  });
}

/** Ends every exec session, instance and log stream (entrypoints reconnect), lets calls finish briefly, then cuts. */
async function stop(server: grpc.Server, ctx: ServerContext, closeStore: () => Promise<void>): Promise<void> {
  ctx.exec.shutdown('the server is shutting down');
  ctx.urls?.broker.shutdown('the server is shutting down');
  ctx.registry.closeAll('the server is shutting down');
  ctx.logs.shutdown('the server is shutting down');
  ctx.peers?.close();
  await ctx.replicas.close();
  await new Promise<void>((resolve) => {
    const force = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, SHUTDOWN_GRACE_MS);
    server.tryShutdown(() => {
      clearTimeout(force);
      resolve();
    });
  });
  await closeStore();
}
