// What `waypoint-ctl server run` and `dev` may ask of startServer, and the defaults of what they
// leave out: kept apart from server.ts so that the ctl reads its flags' defaults without the
// server's code, and so that a default is stated once for both.
import type { InstanceLimits } from './instances/registry.js';
import type { ServerLog } from './log.js';

export const DEFAULT_INLINE_KEEPALIVE_MS = 5_000;
export const DEFAULT_KEEPALIVE_TIME_MS = 30_000;
export const DEFAULT_CONFIG_STALL_MS = 30_000;

export const DEFAULT_INSTANCE_LIMITS: InstanceLimits = { perDeployment: 1000, perToken: 100 };

export const DEFAULT_HTTP_LISTEN = '127.0.0.1:9702';
export const DEFAULT_URL_DOMAIN = 'localhost';
export const DEFAULT_URL_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_URL_MAX_CONCURRENT = 100;
export const DEFAULT_URL_UPGRADE_IDLE_TIMEOUT_MS = 300_000;
export const DEFAULT_URL_HEADER_TIMEOUT_MS = 30_000;
export const DEFAULT_URL_KEEPALIVE_TIMEOUT_MS = 5_000;
/** Lowered at start to half the process's open-file limit when that is less (ingress/fd-budget.ts). */
export const DEFAULT_URL_MAX_CONNECTIONS = 10_000;
export const DEFAULT_URL_MAX_CONNECTIONS_PER_CLIENT = 256;

export interface ServerOptions {
  /** host:port; port 0 picks a free port (see RunningServer.address). */
  listen: string;
  /** SQLite's state and the signing key; unused with databaseUrl. */
  dataDir: string;
  /** postgres://…: the state (and the signing key) in PostgreSQL, shared by replicas. */
  databaseUrl?: string;
  /** PEM certificate chain and key: TLS instead of plaintext. */
  tls?: { cert: Buffer; key: Buffer };
  /** Reported by GetVersionInfo. */
  version: string;
  log?: ServerLog;
  /**
   * A debug record of every RPC (method, status, duration, caller) and of every HTTP request to
   * the ingress (method, host, path, status, duration, peer) in `log`: on when it shows debug.
   */
  rpcRecords?: boolean;
  inlineKeepaliveMs?: number;
  /** Interval of HTTP/2 pings to each client, to notice dead peers (default 30 s). */
  keepaliveTimeMs?: number;
  /** How long an instance has to open an exec session it was asked for (default 10 s). */
  execOpenTimeoutMs?: number;
  /** How long a stream that opens with a message (Exec's start, ...) may take to send it (default 5 s). */
  firstMessageTimeoutMs?: number;
  /** The URL service's HTTP ingress; undefined: off (no url_service in configs either). */
  http?: HttpOptions;
  /** An invite's life when its request names none, in seconds (default 24 h); null: never expires. */
  inviteTtlSeconds?: number | null;
  /** Live instances allowed per deployment and per token (default 1000 and 100). */
  instanceLimits?: InstanceLimits;
  /** How long a config may wait behind one an instance has not read before it is dropped (default 30 s). */
  configStallMs?: number;
  /** Bytes of log lines kept in memory across all instances (default 512 MiB). */
  logMemoryBytes?: number;
  /** The web console on the HTTP listener's bare host, its front end's files in `dir`; undefined: off. */
  console?: { dir: string };
  /** How this server meets the other replicas of its database (PostgreSQL only). */
  replica?: ReplicaOptions;
}

export const DEFAULT_REPLICA_HEARTBEAT_MS = 2_000;
/** A replica this long without a heartbeat is taken as gone: not forwarded to, its instances disconnected. */
export const DEFAULT_REPLICA_TIMEOUT_MS = 10_000;

export interface ReplicaOptions {
  /** host:port the other replicas reach this one's gRPC listener at; default: the listen address (its host when it is specific, else this machine's name). */
  advertise?: string;
  heartbeatMs?: number;
  timeoutMs?: number;
}

export interface HttpOptions {
  /** host:port; port 0 picks a free port (see RunningServer.httpAddress). */
  listen: string;
  /** Apps are at <app>.<domain>. */
  domain: string;
  /** Time from a request's arrival to the app's response head. */
  requestTimeoutMs: number;
  /** Connections in flight per instance. */
  maxConcurrent: number;
  /** From a client connection's start (or its previous response) to a complete request head; else 408. */
  headerTimeoutMs: number;
  /** How long an idle kept-alive client connection waits for its next request. */
  keepAliveTimeoutMs: number;
  /** An upgraded connection (WebSocket) idle this long either way is closed. */
  upgradeIdleTimeoutMs: number;
  /** Client connections in all (default DEFAULT_URL_MAX_CONNECTIONS; lowered to a share of the open-file limit) and per client address. */
  maxConnections?: number;
  maxConnectionsPerClient: number;
  /** CIDRs of proxies in front whose X-Forwarded-* are kept (and who are not held to the per-client limit). */
  trustedProxies: string[];
}
