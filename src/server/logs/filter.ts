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

/**
 * The checked filter when other replicas are asked too (`elsewhere`): an instance this one does
 * not know is not refused here (`knownHere` false); the caller refuses it when none of them knows
 * it either.
 */
export async function checkLogFilterAcross(parts: LogFilterParts, q: LogQuery, elsewhere: boolean): Promise<{ filter: LogFilter; knownHere: boolean }> {
  try {
    return { filter: await checkLogFilter(parts, q), knownHere: true };
  } catch (err) {
    const unknownInstance = elsewhere && q.instanceId && err instanceof RpcError && err.code === Status.NOT_FOUND;
    if (!unknownInstance) throw err;
    return { filter: { ...(await checkLogFilter(parts, { ...q, instanceId: undefined })), instanceId: q.instanceId }, knownHere: false };
  }
}

/** NOT_FOUND for an instance no replica knows. */
export function unknownEverywhere(instanceId: string | undefined): RpcError {
  return new RpcError(
    Status.NOT_FOUND,
    `no instance ${JSON.stringify(instanceId)} on any replica: it never connected, or it left too long ago (waypoint-ctl instances lists the live ones)`,
  );
}
