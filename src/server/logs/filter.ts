// Which lines a reader asks for, checked the same way for GetLogs and the console's routes: an
// app must exist, an instance must be live or still have lines kept; else NOT_FOUND saying why.
import type { AppConfig } from '../config/app-config.js';
import type { InstanceRegistry } from '../instances/registry.js';
import { RpcError, Status } from '../rpc/status.js';
import type { LogFilter, LogHub, LogSource } from './hub.js';

export interface LogQuery {
  app?: string;
  deploymentId?: string;
  instanceId?: string;
  /** undefined: both sources. */
  source?: LogSource;
}

export interface LogFilterParts {
  appConfig: Pick<AppConfig, 'appExists'>;
  logs: Pick<LogHub, 'knows'>;
  registry: Pick<InstanceRegistry, 'get'>;
}

export async function checkLogFilter(parts: LogFilterParts, q: LogQuery): Promise<LogFilter> {
  if (q.app && !(await parts.appConfig.appExists(q.app))) {
    throw new RpcError(Status.NOT_FOUND, `there is no app named ${JSON.stringify(q.app)}`);
  }
  if (q.instanceId && !parts.logs.knows(q.instanceId) && !parts.registry.get(q.instanceId)) {
    throw new RpcError(
      Status.NOT_FOUND,
      `no instance ${JSON.stringify(q.instanceId)}: it never connected, or it left too long ago (waypoint-ctl instances lists the live ones)`,
    );
  }
  return {
    ...(q.app && { app: q.app }),
    ...(q.deploymentId && { deploymentId: q.deploymentId }),
    ...(q.instanceId && { instanceId: q.instanceId }),
    ...(q.source && { source: q.source }),
  };
}
