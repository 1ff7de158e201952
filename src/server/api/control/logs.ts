// GetLogs: the buffered lines of the matching instances in time order, then (follow) new ones
// as they arrive, until the reader cancels or the server stops.
import { type handleServerStreamingCall, Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { GetLogsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsRequest.js';
import type { GetLogsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { ServerContext } from '../../context.js';
import { checkLogFilter, type LogQuery } from '../../logs/filter.js';
import type { LogFilter } from '../../logs/hub.js';
import { LogSender } from '../../logs/sender.js';
import { reported, RpcError, Status } from '../../rpc/status.js';

export function getLogs(
  ctx: ServerContext,
  authorize: (metadata: Metadata, rpc: string) => void,
): handleServerStreamingCall<GetLogsRequest__Output, GetLogsResponse> {
  return (call) => {
    try {
      authorize(call.metadata, 'GetLogs');
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'GetLogs'));
      return;
    }
    checkLogFilter(ctx, query(call.request)).then(
      (filter) => {
        if (!call.cancelled) stream(ctx, call, filter);
      },
      (err: unknown) => call.emit('error', reported(ctx.log, err, 'GetLogs')),
    );
  };
}

function stream(ctx: ServerContext, call: ServerWritableStream<GetLogsRequest__Output, GetLogsResponse>, filter: LogFilter): void {
  const follow = call.request.follow;
  const open = () => !call.cancelled && !call.writableEnded;
  let sender: LogSender | undefined;
  const unsubscribes: Array<() => void> = [];
  const stop = () => {
    sender?.close();
    for (const u of unsubscribes.splice(0)) u();
  };
  call.on('cancelled', stop);
  call.on('close', stop);
  call.on('finish', stop);
  // Subscribe and snapshot in the same tick: no line is missed or shown twice between them.
  // Headers at once: the reader knows the stream is up even before the first line.
  call.sendMetadata(new Metadata());
  sender = new LogSender(call, ctx.logs.recent(filter), { follow });
  if (follow) {
    unsubscribes.push(ctx.logs.follow(filter, sender));
    unsubscribes.push(
      ctx.logs.track((reason) => {
        stop();
        if (open()) call.emit('error', new RpcError(Status.UNAVAILABLE, reason));
      }),
    );
  }
  sender.start();
}

function query(req: GetLogsRequest__Output): LogQuery {
  return {
    app: req.app,
    instanceId: req.instance_id,
    ...(req.source !== 'ALL' && { source: req.source === 'APP' ? 'app' : 'entrypoint' }),
  };
}
