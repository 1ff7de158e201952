// The connection's entry point, imported lazily by the orchestrator: this module graph loads
// @grpc/grpc-js, which disabled mode must never pay for.
import { Connection, type ConnectionOptions } from './connection.js';

export { Connection, DEFAULT_DEADLINE_MS } from './connection.js';
export type { ConfigListener, ConnectionOptions, ConnectionSettings, SessionListener } from './connection.js';
export type { EntrypointConfig } from './config-message.js';
export type { Session } from './session.js';
export { waitForFirstConfig, type StartReason } from './fail-open.js';

/** Creates the connection and starts connecting in the background. */
export function startConnection(options: ConnectionOptions): Connection {
  const connection = new Connection(options);
  connection.start();
  return connection;
}
