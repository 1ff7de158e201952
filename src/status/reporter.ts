// The app's status, told to our server's InstanceStatus service on the session's own channel:
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

export const DEFAULT_REPORT_DEADLINE_MS = 5_000;

/** Codes that mean "this server will not take this report": retrying would earn the same. */
const REFUSALS: ReadonlySet<number> = new Set([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.PERMISSION_DENIED,
  grpc.status.UNAUTHENTICATED,
]);

export interface StatusReporterOptions {
  instanceId: string;
  logger: Logger;
  deadlineMs?: number;
  random?: Random;
}

export class StatusReporter {
  private status?: AppStatus;
  private session?: Session;
  /** What the live session's server holds. */
  private sent?: AppStatus;
  /** The session a call is in flight on. */
  private inFlight?: Session;
  /** The session whose server has no InstanceStatus service. */
  private unimplemented?: Session;
  /** A status the server refused: not sent again (a new status is). */
  private refused?: AppStatus;
  private timer?: NodeJS.Timeout;
  private readonly backoff: Backoff;

  constructor(private readonly options: StatusReporterOptions) {
    this.backoff = new Backoff(options.random);
  }

  /** Each status of the app, in order. */
  set(status: AppStatus): void {
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

  private send(session: Session, status: AppStatus): void {
    const request: ReportStatusRequest = {
      instance_id: this.options.instanceId,
      state: status.state,
      message: status.message,
      since: toTimestamp(status.since),
    };
    const done = (err: ServiceError | null) => {
      if (this.inFlight === session) this.inFlight = undefined;
      if (this.session === session) this.answered(session, status, err);
      this.flush();
    };
    try {
      report(session.client, request, session.metadata(), this.options.deadlineMs ?? DEFAULT_REPORT_DEADLINE_MS, done);
    } catch (err) {
      // The channel closing under us: the session is ending, the next one reports.
      done(Object.assign(new Error((err as Error)?.message ?? String(err)), { code: grpc.status.UNKNOWN, details: '', metadata: new grpc.Metadata() }));
    }
  }

  private answered(session: Session, status: AppStatus, err: ServiceError | null): void {
    const { logger } = this.options;
    if (!err) {
      this.sent = status;
      this.backoff.reset();
      logger.debug('instance status reported', { state: status.state });
      return;
    }
    const code = grpc.status[err.code] ?? String(err.code);
    const reason = err.details || err.message;
    if (err.code === grpc.status.UNIMPLEMENTED) {
      this.unimplemented = session;
      logger.debug('the server has no instance status service; not reporting the app status on this connection', { reason });
      return;
    }
    if (REFUSALS.has(err.code)) {
      this.refused = status;
      logger.debug('the server refused the instance status', { code, reason });
      return;
    }
    const delay = this.backoff.next({ policy: RECONNECT_POLICY });
    logger.debug('reporting the instance status failed; retrying', { code, reason, after_ms: delay });
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
  request: ReportStatusRequest,
  metadata: Metadata,
  deadlineMs: number,
  callback: (err: ServiceError | null) => void,
): void {
  const m = definition().Report;
  client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, request, metadata, { deadline: Date.now() + deadlineMs }, (err) =>
    callback(err),
  );
}
