// The operator's side of exec (control API): Exec places a request on an instance, waits for the
// instance to open it, then hands both calls to an ExecSession; ListExecSessions reads the
// history. A request that cannot be placed, or is never opened, ends the call with a status; a
// session that ran ends with an `exit_code` or `error` message. Each session is one history
// record and two server log lines (start, end).
import { type handleBidiStreamingCall, type handleUnaryCall, Metadata } from '@grpc/grpc-js';
import type { ExecRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecRequest.js';
import type { ExecResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import type { ExecSession as ExecSessionMessage } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecSession.js';
import type { ExecStart__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecStart.js';
import type { ListExecSessionsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListExecSessionsRequest.js';
import type { ListExecSessionsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListExecSessionsResponse.js';
import { wantsInlineKeepalives } from '../../../protocol/metadata.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import type { Principal } from '../../auth/authenticator.js';
import { widenReceiveWindow } from '../../rpc/receive-window.js';
import type { ServerContext } from '../../context.js';
import type { ExecPty } from '../../exec/broker.js';
import type { ExecRecord } from '../../store/store.js';
import { type ExecOutcome, ExecSession, type OperatorExecCall } from '../../exec/session.js';
import { firstMessage } from '../../rpc/first-message.js';
import { checkInstanceId } from '../../instances/registry.js';
import { formatPeer } from '../../../rules/listen.js';
import { invalidArgument, reported } from '../../rpc/status.js';
import { APP_NAME } from '../../../rules/names.js';

const DEFAULT_LIST_LIMIT = 100;
const MAX_LIST_LIMIT = 10_000;
const MAX_ARGS_BYTES = 256 * 1024;

type Authorize = (metadata: Metadata, rpc: string) => Principal;

export function execCall(ctx: ServerContext, authorize: Authorize): handleBidiStreamingCall<ExecRequest__Output, ExecResponse> {
  return (call) => {
    let principal: Principal;
    try {
      principal = authorize(call.metadata, 'Exec');
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'Exec'));
      return;
    }
    widenReceiveWindow(call);
    const refuse = (err: unknown) => call.emit('error', reported(ctx.log, err, 'Exec'));
    // Input that follows the start waits in gRPC's flow control until the instance opens.
    firstMessage<ExecRequest__Output>(call, { rpc: 'Exec', message: 'start', timeoutMs: ctx.firstMessageTimeoutMs }, (req) => {
      try {
        if (req.event !== 'start' || !req.start) throw invalidArgument('the first Exec message must be start');
        place(ctx, call, principal, req.start);
      } catch (err) {
        refuse(err);
      }
    }, refuse);
  };
}

/** Chooses the instance, records the session, and lists it there until it is opened. */
function place(ctx: ServerContext, call: OperatorExecCall, principal: Principal, start: ExecStart__Output): void {
  checkStart(start);
  const instance = ctx.exec.choose({ app: start.app, instanceId: start.instance_id });
  const record = ctx.execHistory.begin({
    app: instance.app,
    deploymentId: instance.deploymentId,
    instanceId: instance.id,
    args: start.args,
    tty: start.tty,
    operatorTokenId: principal.tokenId,
    operatorAddress: formatPeer(call.getPeer()),
  });
  ctx.log.info('exec started', {
    session: record.id,
    instance: instance.id,
    app: instance.app,
    who: principal.tokenId,
    peer: record.operatorAddress,
    tty: start.tty,
    args: JSON.stringify(start.args),
  });

  // Headers now: the ctl tells "placed, then failed" (the instance left, the open timed out)
  // from a refusal.
  call.sendMetadata(new Metadata());

  let ended = false;
  const end = (outcome: ExecOutcome) => {
    if (ended) return;
    ended = true;
    recordEnd(ctx, record, outcome);
  };
  const onCancelWhilePending = () => {
    if (ctx.exec.cancel(instance.id, record.id)) end({ state: 'FAILED', error: 'operator went away' });
  };
  call.on('cancelled', onCancelWhilePending);

  ctx.exec.enqueue({
    record,
    pty: pty(start),
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
        keepaliveMs: wantsInlineKeepalives(ep.metadata) ? ctx.inlineKeepaliveMs : 0,
        onEnd: (outcome) => {
          untrack();
          end(outcome);
        },
      });
      untrack = ctx.exec.track({ instanceId: instance.id, abort: (reason) => session.abort(reason) });
      session.start(record.id, instance.deploymentId);
    },
  });
}

function checkStart(start: ExecStart__Output): void {
  if (start.app && start.instance_id) throw invalidArgument('give an app or an instance, not both');
  if (!start.app && !start.instance_id) throw invalidArgument('give an app or an instance to run the command in');
  if (start.app && !APP_NAME.test(start.app)) throw invalidArgument(`invalid app name ${JSON.stringify(start.app)}`);
  if (start.args.length === 0 || start.args[0] === '') throw invalidArgument('exec needs a command: give its args');
  if (start.instance_id) checkInstanceId(start.instance_id, 'Exec');
  if (start.args.reduce((n, a) => n + Buffer.byteLength(a), 0) > MAX_ARGS_BYTES) {
    throw invalidArgument(`the command line is too long: at most ${MAX_ARGS_BYTES / 1024} KiB`);
  }
  // L10: the OS ends a C string at NUL: the command would run with a different arg than asked.
  const nul = start.args.findIndex((a) => a.includes('\0'));
  if (nul >= 0) throw invalidArgument(`arg ${nul} holds a NUL character, which no command can receive: remove it`);
  if (start.tty) checkTerminal(start);
}

/** A terminal name terminfo could hold, and a size a terminal can have (L10). */
function checkTerminal(start: ExecStart__Output): void {
  if (start.term.length > MAX_TERM_LENGTH || !/^[\x21-\x7e]*$/.test(start.term)) {
    throw invalidArgument(`invalid TERM: at most ${MAX_TERM_LENGTH} printable ASCII characters, no NUL, space or control character`);
  }
  const w = start.window_size;
  if (!w) return;
  // Refused rather than clamped: only a broken or hostile client sends these, and a clamped
  // size would be a silent lie to the command. 0 x 0 is "unknown" (the pty's default).
  const unknown = w.rows === 0 && w.cols === 0;
  if (!unknown && !(inRange(w.rows, 1) && inRange(w.cols, 1))) {
    throw invalidArgument(`invalid window size ${w.rows}x${w.cols}: rows and cols must be 1 to ${MAX_WINDOW}`);
  }
  if (!inRange(w.width, 0) || !inRange(w.height, 0)) {
    throw invalidArgument(`invalid window size in pixels ${w.width}x${w.height}: 0 (unknown) to ${MAX_WINDOW}`);
  }
}

/** A terminal's sizes are 16-bit (struct winsize): more would wrap (70000 cols became 4464). */
const MAX_WINDOW = 65_535;
const MAX_TERM_LENGTH = 256;

function inRange(n: number, min: number): boolean {
  return Number.isInteger(n) && n >= min && n <= MAX_WINDOW;
}

function pty(start: ExecStart__Output): ExecPty {
  if (!start.tty) return { enable: false, term: '' };
  const w = start.window_size;
  return {
    enable: true,
    term: start.term || 'xterm-256color',
    ...(w && { window_size: { rows: w.rows, cols: w.cols, width: w.width, height: w.height } }),
  };
}

function recordEnd(ctx: ServerContext, record: ExecRecord, outcome: ExecOutcome): void {
  const now = Date.now();
  if (outcome.state === 'EXITED') ctx.execHistory.exited(record.id, outcome.exitCode, now);
  else ctx.execHistory.failed(record.id, outcome.error, outcome.exitCode, now);
  ctx.log.info('exec ended', {
    session: record.id,
    instance: record.instanceId,
    who: record.operatorTokenId,
    state: outcome.state,
    exit_code: outcome.exitCode,
    error: outcome.state === 'FAILED' ? outcome.error : undefined,
    duration_ms: now - record.startedAt,
  });
}

export function listExecSessions(
  ctx: ServerContext,
  authorize: Authorize,
): handleUnaryCall<ListExecSessionsRequest__Output, ListExecSessionsResponse> {
  return (call, callback) => {
    try {
      authorize(call.metadata, 'ListExecSessions');
      const { app, instance_id: instanceId, limit } = call.request;
      const sessions = ctx.execHistory.list({
        ...(app && { app }),
        ...(instanceId && { instanceId }),
        limit: limit === 0 ? DEFAULT_LIST_LIMIT : Math.min(limit, MAX_LIST_LIMIT),
      });
      callback(null, { sessions: sessions.map(sessionMessage) });
    } catch (err) {
      callback(reported(ctx.log, err, 'ListExecSessions'));
    }
  };
}

function sessionMessage(r: ExecRecord): ExecSessionMessage {
  return {
    id: String(r.id),
    app: r.app,
    deployment_id: r.deploymentId,
    instance_id: r.instanceId,
    args: r.args,
    tty: r.tty,
    operator_token_id: r.operatorTokenId,
    operator_address: r.operatorAddress,
    started_at: toTimestamp(r.startedAt),
    ...(r.endedAt !== undefined && { ended_at: toTimestamp(r.endedAt) }),
    state: r.state,
    exit_code: r.exitCode ?? 0,
    error: r.error,
  };
}
