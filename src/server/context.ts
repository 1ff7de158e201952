// What every handler of the server shares: state, token machinery, live instances, settings.
import type { Authenticator } from './auth.js';
import type { InstanceRegistry } from './instances.js';
import type { ServerLog } from './log.js';
import type { Store } from './store.js';
import type { TokenSigner } from './tokens.js';

export interface ServerContext {
  store: Store;
  signer: TokenSigner;
  auth: Authenticator;
  registry: InstanceRegistry;
  log: ServerLog;
  /** Reported by GetVersionInfo. */
  version: string;
  /** Interval of inline keepalives on the streams of clients that asked for them. */
  inlineKeepaliveMs: number;
}
