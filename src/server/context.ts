// What every handler of the server shares: state, token machinery, live instances, app config,
// logs, settings.
import type { AppConfig } from './app-config.js';
import type { Authenticator } from './auth.js';
import type { InstanceRegistry } from './instances.js';
import type { LogHub } from './log-hub.js';
import type { ServerLog } from './log.js';
import type { Store } from './store.js';
import type { TokenSigner } from './tokens.js';

export interface ServerContext {
  store: Store;
  signer: TokenSigner;
  auth: Authenticator;
  registry: InstanceRegistry;
  /** App config: stored, and pushed to live instances on change. */
  appConfig: AppConfig;
  /** Log lines per instance, and their followers. */
  logs: LogHub;
  log: ServerLog;
  /** Reported by GetVersionInfo. */
  version: string;
  /** Interval of inline keepalives on the streams of clients that asked for them. */
  inlineKeepaliveMs: number;
}
