// GetLogs: the buffered lines of the matching instances in time order, then (follow) new ones
// as they arrive, until the reader cancels or the server stops. On replicas the lines other
// replicas hold come too (logs/remote.ts): every replica's kept lines merged in time order, then
// everyone's new ones. A call another replica forwarded is answered from here alone, its kept
// lines closed by a `backlog_end` message when it follows.
import { type handleServerStreamingCall, Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { GetLogsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsRequest.js';
import type { GetLogsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { Principal } from '../../auth/authenticator.js';
import type { ServerContext } from '../../context.js';
import { checkLogFilterAcross, type LogQuery, unknownEverywhere } from '../../logs/filter.js';
import type { LogFilter } from '../../logs/hub.js';
import { mergeByTime, type RemoteLogs, remoteLogs } from '../../logs/remote.js';
import { LogSender, peerLogMessage } from '../../logs/sender.js';
import { type CallOrigin, originOf } from '../../replicas/origin.js';
import { reported, RpcError, Status } from '../../rpc/status.js';

type LogsCall = ServerWritableStream<GetLogsRequest__Output, GetLogsResponse>;

export function getLogs(
  ctx: ServerContext,
  authorize: (metadata: Metadata, rpc: string) => Promise<Principal>,
): handleServerStreamingCall<GetLogsRequest__Output, GetLogsResponse> {
  return async (call) => {
    let origin: CallOrigin;
    try {
      origin = originOf(await authorize(call.metadata, 'GetLogs'), call.metadata, call.getPeer(), ctx.signer);
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'GetLogs'));
      return;
    }
    const forward = ctx.replicas.shared && ctx.peers !== undefined && !origin.hop;
    checkLogFilterAcross(ctx, query(call.request), forward).then(
      ({ filter, knownHere }) => {
        if (call.cancelled) return;
        if (!forward) return stream(ctx, call, filter, origin.hop !== undefined);
        streamAll(ctx, call, filter, origin, knownHere).catch((err: unknown) => {
          if (!call.cancelled && !call.writableEnded) call.emit('error', reported(ctx.log, err, 'GetLogs'));
        });
      },
      (err: unknown) => call.emit('error', reported(ctx.log, err, 'GetLogs')),
    );
  };
}

/** This replica's lines only; a forwarded call that follows is told when its kept lines are all sent. */
function stream(ctx: ServerContext, call: LogsCall, filter: LogFilter, forwarded: boolean): void {
  const follow = call.request.follow;
  // Subscribe and snapshot in the same tick: no line is missed or shown twice between them.
  // Headers at once: the reader knows the stream is up even before the first line.
  call.sendMetadata(new Metadata());
  const end: GetLogsResponse | undefined = forwarded && follow ? { lines: [], backlog_end: true } : undefined;
  const kept = follow && call.request.new_only ? [] : ctx.logs.recent(filter);
  const sender = forwarded
    ? new LogSender(call, kept, { follow }, peerLogMessage, end)
    : new LogSender(call, kept, { follow });
  followFor(ctx, call, filter, sender);
  sender.start();
}

/** Every replica's lines: the kept ones merged in time order, then (follow) everyone's new ones. */
async function streamAll(ctx: ServerContext, call: LogsCall, filter: LogFilter, origin: CallOrigin, knownHere: boolean): Promise<void> {
  const follow = call.request.follow;
  call.sendMetadata(new Metadata());
  // Ours snapshotted and followed in the same tick; new lines wait in the sender while the
  // other replicas send their kept ones.
  const sender = new LogSender(call, [], { follow });
  sender.hold();
  const local = ctx.logs.recent(filter);
  const stop = followFor(ctx, call, filter, sender);
  let remote: RemoteLogs | undefined;
  call.on('cancelled', () => remote?.close());
  remote = await remoteLogs({ replicas: ctx.replicas, peers: ctx.peers!, log: ctx.log }, { tokenId: origin.principal.tokenId, address: origin.peer }, call.request);
  if (call.cancelled || call.writableEnded) return remote.close();
  if (!knownHere && remote.found === 0) {
    stop();
    remote.close();
    throw unknownEverywhere(filter.instanceId);
  }
  const onStop = () => remote?.close();
  call.on('close', onStop);
  call.on('finish', onStop);
  if (follow) remote.follow(sender);
  else remote.close();
  sender.start(mergeByTime(local, remote.backlog));
}

/** Registers the sender as a follower (when following) and the call's end; returns the stop. */
function followFor(ctx: ServerContext, call: LogsCall, filter: LogFilter, sender: LogSender): () => void {
  const unsubscribes: Array<() => void> = [];
  const stop = () => {
    sender.close();
    for (const u of unsubscribes.splice(0)) u();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('finish', stop);
  if (call.request.follow) {
    unsubscribes.push(ctx.logs.follow(filter, sender));
    unsubscribes.push(
      ctx.logs.track((reason) => {
        stop();
        if (!call.cancelled && !call.writableEnded) call.emit('error', new RpcError(Status.UNAVAILABLE, reason));
      }),
    );
  }
  return stop;
}

function query(req: GetLogsRequest__Output): LogQuery {
  return {
    app: req.app,
    instanceId: req.instance_id,
    deploymentId: req.deployment_id,
    ...(req.source !== 'ALL' && { source: req.source === 'APP' ? 'app' : 'entrypoint' }),
  };
}
