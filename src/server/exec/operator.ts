// The operator's side of an exec session, from a checked start to its end: choose the instance,
// record the session, list it there until the instance opens it, then hand both calls to an
// ExecSession. A request that cannot be placed, or is never opened, ends the call with a status;
// a session that ran ends with an `exit_code` or `error` message. Each session is one history
// record and two server log lines (start, end).
import { Metadata } from '@grpc/grpc-js';
import type { ExecStart__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecStart.js';
import { wantsInlineKeepalives } from '../../protocol/metadata.js';
import { actorOf } from '../audit.js';
import type { ServerLog } from '../log.js';
import type { CallOrigin } from '../replicas/origin.js';
import type { Peers } from '../replicas/peers.js';
import type { Replicas } from '../replicas/replicas.js';
import { invalidArgument } from '../rpc/status.js';
import type { ExecHistory, ExecRecord } from '../store/store.js';
import type { ExecBroker } from './broker.js';
import { forwardExec } from './forward.js';
import { type ExecOutcome, ExecSession, type OperatorExecCall } from './session.js';
import { checkStart, ptyFor } from './start.js';

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 10_000;

/** What running a session needs of the server (named as in its context, which has them all). */
export interface ExecParts {
  exec: ExecBroker;
  execHistory: ExecHistory;
  log: ServerLog;
  /** Interval of inline keepalives to an entrypoint that asked for them. */
  inlineKeepaliveMs: number;
  /** The other replicas on a shared database: a session for an instance connected to one goes there. */
  replicas?: Replicas;
  peers?: Peers;
}

/**
 * Checks the start, chooses the instance, records the session, and lists it there until it is
 * opened; or, for an instance connected to another replica, forwards the call there (a call
 * forwarded here already is never forwarded again).
 */
export async function placeExec(parts: ExecParts, call: OperatorExecCall, origin: CallOrigin, start: ExecStart__Output): Promise<void> {
  checkStart(start);
  const { principal } = origin;
  const { replicas, peers } = parts;
  const elsewhere = replicas?.shared && peers && !origin.hop ? replicas : undefined;
  const placement = await parts.exec.choose({ app: start.app, instanceId: start.instance_id }, elsewhere);
  if ('remote' in placement) return forwardExec({ ...parts, peers: peers! }, call, origin, start, placement.remote);
  const instance = placement.local;
  const record = await parts.execHistory.begin({
    app: instance.app,
    deploymentId: instance.deploymentId,
    instanceId: instance.id,
    args: start.args,
    tty: start.tty,
    operatorTokenId: principal.tokenId,
    operatorAddress: origin.peer,
  });
  parts.log.info('exec started', {
    event: 'exec.start',
    session: record.id,
    app: instance.app,
    deployment: instance.deploymentId,
    instance: instance.id,
    tty: start.tty,
    args: start.args,
    ...actorOf(principal, origin.peer),
    ...(origin.hop && { forwarded_by: origin.hop }),
  });

  // Headers now: the ctl tells "placed, then failed" (the instance left, the open timed out)
  // from a refusal.
  call.sendMetadata(new Metadata());

  let ended = false;
  const end = (outcome: ExecOutcome) => {
    if (ended) return;
    ended = true;
    void recordEnd(parts, record, outcome);
  };
  // Gone while the session was being recorded: it ends here, recorded as failed.
  if (call.cancelled) return end({ state: 'FAILED', error: 'operator went away' });
  const onCancelWhilePending = () => {
    if (parts.exec.cancel(instance.id, record.id)) end({ state: 'FAILED', error: 'operator went away' });
  };
  call.on('cancelled', onCancelWhilePending);

  parts.exec.enqueue({
    record,
    pty: ptyFor(start),
    failed: (error) => {
      call.off('cancelled', onCancelWhilePending);
      end({ state: 'FAILED', error: error.message });
      if (!call.cancelled && !call.writableEnded) call.emit('error', error);
    },
    opened: (ep) => {
      call.off('cancelled', onCancelWhilePending);
      if (call.cancelled) {
        // Gone in the very tick it was opened: the entrypoint must not run anything.
        ep.emit('error', invalidArgument('the operator went away before the session opened'));
        end({ state: 'FAILED', error: 'operator went away' });
        return;
      }
      let untrack: () => void = () => undefined;
      const session = new ExecSession(call, ep, {
        instanceId: instance.id,
        keepaliveMs: wantsInlineKeepalives(ep.metadata) ? parts.inlineKeepaliveMs : 0,
        onEnd: (outcome) => {
          untrack();
          end(outcome);
        },
      });
      untrack = parts.exec.track({ instanceId: instance.id, abort: (reason) => session.abort(reason) });
      session.start(record.id, instance.deploymentId);
    },
  });
}

/** Logs the end and records it; a store that cannot take it is a warning (the session has ended either way). */
async function recordEnd(parts: ExecParts, record: ExecRecord, outcome: ExecOutcome): Promise<void> {
  const now = Date.now();
  parts.log.info('exec ended', {
    event: 'exec.end',
    session: record.id,
    app: record.app,
    deployment: record.deploymentId,
    instance: record.instanceId,
    actor_token: record.operatorTokenId,
    actor_kind: 'operator',
    peer: record.operatorAddress,
    state: outcome.state,
    exit_code: outcome.exitCode,
    error: outcome.state === 'FAILED' ? outcome.error : undefined,
    duration_ms: now - record.startedAt,
  });
  try {
    if (outcome.state === 'EXITED') await parts.execHistory.exited(record.id, outcome.exitCode, now);
    else await parts.execHistory.failed(record.id, outcome.error, outcome.exitCode, now);
  } catch (err) {
    parts.log.warn('the end of an exec session could not be recorded: the history shows it RUNNING until the next start', {
      session: record.id,
      error: (err as Error).message,
    });
  }
}

/** The recorded sessions, newest first; a limit of 0 means the default, and none reads more than the maximum. */
export function listSessions(history: ExecHistory, filter: { app: string; instanceId: string; limit: number }): Promise<ExecRecord[]> {
  const { app, instanceId, limit } = filter;
  return history.list({
    ...(app && { app }),
    ...(instanceId && { instanceId }),
    limit: limit === 0 ? DEFAULT_LIST_LIMIT : Math.min(limit, MAX_LIST_LIMIT),
  });
}
