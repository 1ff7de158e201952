// The connection's entry point, imported lazily by the orchestrator: this module graph loads
// @grpc/grpc-js, which disabled mode must never pay for; so do config and logs, only used
// when connected.
import { Connection, type ConnectionOptions } from './connection.js';

export { Connection, DEFAULT_DEADLINE_MS } from './connection.js';
export type { ConfigListener, ConnectionOptions, ConnectionSettings, SessionListener } from './connection.js';
export type { EntrypointConfig } from './config-message.js';
export type { Session } from './session.js';
export { waitForFirstConfig, type StartReason } from './fail-open.js';
export { installLastResort } from './last-resort.js';

/** Creates the connection and starts connecting in the background. */
export function startConnection(options: ConnectionOptions): Connection {
  const connection = new Connection(options);
  connection.start();
  return connection;
}

// Connected mode's other parts travel in this chunk too: disabled mode never needs them.
export { ConfigApplier, DEFAULT_MAX_WAIT_MS, DEFAULT_QUIET_MS, RestartScheduler } from '../config/index.js';
export { startLogs, type Logs } from '../logs/index.js';
export { startExec, type Exec, type ExecHost } from '../exec/index.js';
export { appPort, UrlService } from '../url/index.js';
export { CONFIG_STATUS, StatusReporter } from '../status/reporter.js';
