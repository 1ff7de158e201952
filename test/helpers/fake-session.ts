// A connection session around a fake gRPC client, and a logger that records, for unit tests of
// the parts that ride on a session (URL service, status reporter).
import type { Metadata } from '@grpc/grpc-js';
import type { Session } from '../../src/connection/session.js';
import { Logger, type LogRecord } from '../../src/log.js';
import type { WaypointClient } from '../../src/protocol/generated/hashicorp/waypoint/Waypoint.js';

/** A session of instance I1 on `client`; `end()` ends it as a lost connection would. */
export function sessionOn(client: object): { session: Session; end: () => void } {
  const controller = new AbortController();
  const session = {
    client: client as unknown as WaypointClient,
    instanceId: 'I1',
    inlineKeepalives: false,
    protocolVersion: 1,
    serverVersion: 'test',
    metadata: () => ({}) as Metadata,
    signal: controller.signal,
  } satisfies Session;
  return { session, end: () => controller.abort() };
}

/** A logger at debug level whose records land in `records`. */
export function recordingLogger(): { logger: Logger; records: LogRecord[] } {
  const records: LogRecord[] = [];
  const logger = new Logger('error', -1);
  logger.setLevel('debug');
  logger.addSink((r) => records.push(r));
  return { logger, records };
}
