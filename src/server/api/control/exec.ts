// Exec and ListExecSessions of our control API: the operator's token, the first message, and
// the wire messages; the session itself is server/exec/'s (operator.ts).
import type { handleBidiStreamingCall, handleUnaryCall, Metadata } from '@grpc/grpc-js';
import type { ExecRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecRequest.js';
import type { ExecResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import type { ExecSession as ExecSessionMessage } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ExecSession.js';
import type { ListExecSessionsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListExecSessionsRequest.js';
import type { ListExecSessionsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListExecSessionsResponse.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import type { Principal } from '../../auth/authenticator.js';
import type { ServerContext } from '../../context.js';
import { listSessions, placeExec } from '../../exec/operator.js';
import { acceptsRawResponses } from '../../exec/relay-wire.js';
import { originOf } from '../../replicas/origin.js';
import { firstMessage } from '../../rpc/first-message.js';
import { sendReceivedFrames } from '../../rpc/framed-writes.js';
import { widenReceiveWindow } from '../../rpc/receive-window.js';
import { invalidArgument, reported } from '../../rpc/status.js';
import type { ExecRecord } from '../../store/store.js';

type Authorize = (metadata: Metadata, rpc: string) => Promise<Principal>;

export function execCall(ctx: ServerContext, authorize: Authorize): handleBidiStreamingCall<ExecRequest__Output, ExecResponse> {
  return async (call) => {
    let principal: Principal;
    try {
      principal = await authorize(call.metadata, 'Exec');
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'Exec'));
      return;
    }
    if (call.cancelled) return;
    widenReceiveWindow(call);
    sendReceivedFrames(call); // relayed output goes out as the frame it came in
    acceptsRawResponses(call); // its definition passes encoded responses through (api/definition.ts)
    const refuse = (err: unknown) => call.emit('error', reported(ctx.log, err, 'Exec'));
    // Input that follows the start waits in gRPC's flow control until the instance opens.
    firstMessage<ExecRequest__Output>(call, { rpc: 'Exec', message: 'start', timeoutMs: ctx.firstMessageTimeoutMs }, async (req) => {
      try {
        if (req.event !== 'start' || !req.start) throw invalidArgument('the first Exec message must be start');
        await placeExec(ctx, call, originOf(principal, call.metadata, call.getPeer(), ctx.signer), req.start);
      } catch (err) {
        refuse(err);
      }
    }, refuse);
  };
}

export function listExecSessions(
  ctx: ServerContext,
  authorize: Authorize,
): handleUnaryCall<ListExecSessionsRequest__Output, ListExecSessionsResponse> {
  return async (call, callback) => {
    try {
      await authorize(call.metadata, 'ListExecSessions');
      const { app, instance_id: instanceId, limit } = call.request;
      callback(null, { sessions: (await listSessions(ctx.execHistory, { app, instanceId, limit })).map(sessionMessage) });
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
