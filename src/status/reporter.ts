// The app's status (and, with CONFIG_STATUS, the dynamic vars' state), told to our server's
// InstanceStatus service on the session's own channel:
// once per session (the server forgets an instance's state when its config stream ends) and
// again on each change. One call at a time, the latest status wins. A server without the
// service (Waypoint's own answers UNIMPLEMENTED) is not asked again on that session; a refusal
// is not retried for that status; anything else is retried with backoff while the session
// lives. All of it is debug logging only: the status is a courtesy to the operator, and nothing
// here may touch the app or end the entrypoint (the session's client is guarded, see guard.ts).
import type { Metadata, ServiceError } from '@grpc/grpc-js';
import { Backoff, type Random, RECONNECT_POLICY } from '../connection/backoff.js';
import type { Session } from '../connection/session.js';
import type { Logger } from '../log.js';
import type { WaypointClient } from '../protocol/generated/hashicorp/waypoint/Waypoint.js';
import type { InstanceStatusDefinition } from '../protocol/generated/waypoint_entrypoint/status/v1/InstanceStatus.js';
import type { ReportStatusRequest } from '../protocol/generated/waypoint_entrypoint/status/v1/ReportStatusRequest.js';
import { grpc, instanceProtocol } from '../protocol/instance.js';
import { toTimestamp } from '../protocol/timestamp.js';
import type { AppStatus } from '../supervisor/lifecycle.js';
import type { VarStatus } from '../config/dynamic/resolver.js';
import type { ReportConfigRequest } from '../protocol/generated/waypoint_entrypoint/status/v1/ReportConfigRequest.js';

export const DEFAULT_REPORT_DEADLINE_MS = 5_000;

/** Codes that mean "this server will not take this report": retrying would earn the same. */
const REFUSALS: ReadonlySet<number> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
]);

export interface StatusReporterOptions<S = AppStatus> {
  instanceId: string;
  logger: Logger;
  deadlineMs?: number;
  random?: Random;
  /** The RPC and its request for a status: the app's (Report, the default) or the dynamic vars' (ReportConfig). */
  rpc?: ReportRpc<S>;
}

/** One of the InstanceStatus service's calls, and the request it takes for a status. */
export interface ReportRpc<S> {
  method: 'Report' | 'ReportConfig';
  /** What the debug lines call it. */
  what: string;
  request(instanceId: string, status: S): unknown;
}

const APP_STATUS: ReportRpc<AppStatus> = {
  method: 'Report',
  what: 'instance status',
  request: (instanceId, status): ReportStatusRequest => ({
    instance_id: instanceId,
    state: status.state,
    message: status.message,
    since: toTimestamp(status.since),
  }),
};

/** The dynamic vars' state (never values), through ReportConfig. */
export const CONFIG_STATUS: ReportRpc<readonly VarStatus[]> = {
  method: 'ReportConfig',
  what: 'dynamic config status',
  request: (instanceId, vars): ReportConfigRequest => ({
    instance_id: instanceId,
    vars: vars.map((v) => ({ name: v.name, source: v.source, ok: v.ok, message: v.message, ...(v.resolvedAt !== undefined && { resolved_at: toTimestamp(v.resolvedAt) }) })),
  }),
};

export class StatusReporter<S = AppStatus> {
  private status?: S;
  private session?: Session;
  /** What the live session's server holds. */
  private sent?: S;
  /** The session a call is in flight on. */
  private inFlight?: Session;
  /** The session whose server has no InstanceStatus service. */
  private unimplemented?: Session;
  /** A status the server refused: not sent again (a new status is). */
  private refused?: S;
  private timer?: NodeJS.Timeout;
  private readonly backoff: Backoff;
  private readonly rpc: ReportRpc<S>;

  constructor(private readonly options: StatusReporterOptions<S>) {
    this.backoff = new Backoff(options.random);
    this.rpc = options.rpc ?? (APP_STATUS as unknown as ReportRpc<S>);
  }

  /** Each status, in order. */
  set(status: S): void {
    this.status = status;
    this.flush();
  }

  /** Each new session: its server learns the status afresh. */
  attach(session: Session): void {
    this.session = session;
    this.sent = undefined;
    this.refused = undefined;
    this.backoff.reset();
    this.clearTimer();
    session.signal.addEventListener(
      'abort',
      () => {
        if (this.session !== session) return;
        this.session = undefined;
        this.clearTimer();
      },
      { once: true },
    );
    this.flush();
  }

  private clearTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    const { session, status } = this;
    if (!session || session.signal.aborted || !status) return;
    if (this.inFlight === session || this.timer || this.unimplemented === session) return;
    if (status === this.sent || status === this.refused) return;
    this.inFlight = session;
    this.send(session, status);
  }

  private send(session: Session, status: S): void {
    const request = this.rpc.request(this.options.instanceId, status);
    const done = (err: ServiceError | null) => {
      if (this.inFlight === session) this.inFlight = undefined;
      if (this.session === session) this.answered(session, status, err);
      this.flush();
    };
    try {
      report(session.client, this.rpc.method, request, session.metadata(), this.options.deadlineMs ?? DEFAULT_REPORT_DEADLINE_MS, done);
    } catch (err) {
      // The channel closing under us: the session is ending, the next one reports.
      done(Object.assign(new Error((err as Error)?.message ?? String(err)), { code: grpc.status.UNKNOWN, details: '', metadata: new grpc.Metadata() }));
    }
  }

  private answered(session: Session, status: S, err: ServiceError | null): void {
    const { logger } = this.options;
    const { what } = this.rpc;
    if (!err) {
      this.sent = status;
      this.backoff.reset();
      logger.debug(`${what} reported`, (status as Partial<AppStatus>).state ? { state: (status as AppStatus).state } : {});
      return;
    }
    const code = grpc.status[err.code] ?? String(err.code);
    const reason = err.details || err.message;
    if (err.code === grpc.status.UNIMPLEMENTED) {
      this.unimplemented = session;
      logger.debug(`the server has no instance status service; not reporting the ${what} on this connection`, { reason });
      return;
    }
    if (REFUSALS.has(err.code)) {
      this.refused = status;
      logger.debug(`the server refused the ${what}`, { code, reason });
      return;
    }
    const delay = this.backoff.next({ policy: RECONNECT_POLICY });
    logger.debug(`reporting the ${what} failed; retrying`, { code, reason, after_ms: delay });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, delay);
    this.timer.unref();
  }
}

function definition(): InstanceStatusDefinition {
  return instanceProtocol().waypoint_entrypoint.status.v1.InstanceStatus.service as unknown as InstanceStatusDefinition;
}

/** One Report call on the session's client (so on its channel, with its fault guard). */
function report(
  client: WaypointClient,
  method: ReportRpc<unknown>['method'],
  request: unknown,
  metadata: Metadata,
  deadlineMs: number,
  callback: (err: ServiceError | null) => void,
): void {
  const m = definition()[method] as InstanceStatusDefinition['Report'];
  client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request as ReportStatusRequest, metadata, { deadline: Date.now() + deadlineMs }, (err) =>
    callback(err),
  );
}
