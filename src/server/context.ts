// What every handler of the server shares: state, token machinery, live instances, app config,
// logs, exec, the URL service, settings.
import type { AppConfig } from './config/app-config.js';
import type { Authenticator } from './auth/authenticator.js';
import type { ExecBroker } from './exec/broker.js';
import type { ExecHistory } from './store/store.js';
import type { InstanceRegistry } from './instances/registry.js';
import type { LogHub } from './logs/hub.js';
import type { Peers } from './replicas/peers.js';
import type { Replicas } from './replicas/replicas.js';
import type { Revocations } from './auth/revocations.js';
import type { ServerLog } from './log.js';
import type { Store } from './store/store.js';
import type { TokenSigner } from './auth/tokens.js';
import type { UrlService } from './tunnel/urls.js';

export interface ServerContext {
  store: Store;
  signer: TokenSigner;
  auth: Authenticator;
  /** Told of every token revoked (rotation, revoke), for what holds sessions made with them. */
  revocations: Revocations;
  registry: InstanceRegistry;
  /** The other replicas of the database (none on SQLite): where instances not here are. */
  replicas: Replicas;
  /** App config: stored, and pushed to live instances on change. */
  appConfig: AppConfig;
  /** Log lines per instance, and their followers. */
  logs: LogHub;
  /** Clients to the other replicas, for what is forwarded to them; undefined on SQLite (none). */
  peers?: Peers;
  /** Exec requests waiting for their instance, and the sessions running. */
  exec: ExecBroker;
  /** Every exec session, recorded in SQLite. */
  execHistory: ExecHistory;
  /** The URL service (tunnels and the HTTP ingress's settings); undefined when the ingress is off. */
  urls?: UrlService;
  log: ServerLog;
  /** Reported by GetVersionInfo. */
  version: string;
  /** Interval of inline keepalives on the streams of clients that asked for them. */
  inlineKeepaliveMs: number;
  /** An invite's life when its request names none, in seconds; undefined: invites never expire. */
  inviteTtlSeconds: number | undefined;
  /** How long a stream that opens with a message (Exec, EntrypointExecStream, Connect) may take to send it. */
  firstMessageTimeoutMs: number;
  /** How long a config may wait behind one an instance has not read before it is dropped. */
  configStallMs: number;
}
