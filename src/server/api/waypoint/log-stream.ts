// EntrypointLogStream: batches of an entrypoint's log lines, kept in the log hub. The token is
// checked once, each batch's instance every time (an instance this token did not register is
// refused); inline keepalives are dropped. Batches arrive decoded by our own decoder (see
// api/definition.ts); a malformed one ends the call with INVALID_ARGUMENT. The call ends when the
// entrypoint closes it, on the first refused batch, or at server shutdown.
import type { handleClientStreamingCall } from '@grpc/grpc-js';
import type { Empty } from '../../../protocol/generated/google/protobuf/Empty.js';
import { isKeepalive, type KEEPALIVE } from '../../../protocol/keepalive.js';
import type { Principal } from '../../auth/authenticator.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { type LogBatchLines, MalformedLogBatch } from '../../logs/batch.js';
import { invalidArgument, reported, RpcError, Status } from '../../rpc/status.js';

type Protocols = Parameters<typeof checkClientProtocols>[1];
type Message = LogBatchLines | MalformedLogBatch | typeof KEEPALIVE;

export function entrypointLogStream(
  ctx: ServerContext,
  protocols: Protocols,
): handleClientStreamingCall<Message, Empty> {
  return async (call, callback) => {
    let principal: Principal;
    try {
      checkClientProtocols(call.metadata, protocols);
      principal = await ctx.auth.principal(call.metadata, 'EntrypointLogStream');
    } catch (err) {
      callback(reported(ctx.log, err, 'EntrypointLogStream'));
      return;
    }
    if (call.cancelled) return;

    let done = false;
    const finish = (err?: RpcError) => {
      if (done) return;
      done = true;
      untrack();
      if (err) callback(err);
      else callback(null, {});
    };
    const untrack = ctx.logs.track((reason) => finish(new RpcError(Status.UNAVAILABLE, reason)));

    call.on('data', (batch: Message) => {
      if (done || isKeepalive(batch)) return;
      try {
        if (batch instanceof MalformedLogBatch) throw invalidArgument(batch.reason);
        ctx.logs.append(ctx.logs.admit(batch.instanceId, principal), batch);
      } catch (err) {
        finish(reported(ctx.log, err, 'EntrypointLogStream'));
      }
    });
    call.on('end', () => finish());
    // The entrypoint went away: nobody is left to answer.
    call.on('cancelled', () => {
      done = true;
      untrack();
    });
    call.on('error', () => {
      done = true;
      untrack();
    });
  };
}
