// GetLogs: the buffered lines of the matching instances in time order, then (follow) new ones
// as they arrive, until the reader cancels or the server stops.
import { type handleServerStreamingCall, Metadata } from '@grpc/grpc-js';
import type { GetLogsRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsRequest.js';
import type { GetLogsResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { ServerContext } from '../../context.js';
import type { LogFilter } from '../../logs/hub.js';
import { LogSender } from '../../logs/sender.js';
import { reported, RpcError, Status } from '../../rpc/status.js';

export function getLogs(
  ctx: ServerContext,
  authorize: (metadata: Metadata, rpc: string) => Promise<unknown>,
): handleServerStreamingCall<GetLogsRequest__Output, GetLogsResponse> {
  return async (call) => {
    let filter: LogFilter;
    try {
      await authorize(call.metadata, 'GetLogs');
      filter = await checkedFilter(ctx, call.request);
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'GetLogs'));
      return;
    }
    if (call.cancelled) return;
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
  };
}

async function checkedFilter(ctx: ServerContext, req: GetLogsRequest__Output): Promise<LogFilter> {
  if (req.app && !(await ctx.appConfig.appExists(req.app))) {
    throw new RpcError(Status.NOT_FOUND, `there is no app named ${JSON.stringify(req.app)}`);
  }
  if (req.instance_id && !ctx.logs.knows(req.instance_id) && !ctx.registry.get(req.instance_id)) {
    throw new RpcError(
      Status.NOT_FOUND,
      `no instance ${JSON.stringify(req.instance_id)}: it never connected, or it left too long ago (waypoint-ctl instances lists the live ones)`,
    );
  }
  return {
    ...(req.app && { app: req.app }),
    ...(req.instance_id && { instanceId: req.instance_id }),
    ...(req.source !== 'ALL' && { source: req.source === 'APP' ? 'app' : 'entrypoint' }),
  };
}
