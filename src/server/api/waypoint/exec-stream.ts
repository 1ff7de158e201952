// EntrypointExecStream: an entrypoint opening an exec session it found in its config. Checked as
// every entrypoint RPC is (protocols, token), then its first message must be `open`, for a live
// instance this very token registered, at an index pending there; the broker hands the call to
// the operator's side, which answers `opened`. Inline keepalives before the open are skipped, and
// an open that does not come in time ends the call (rpc/first-message.ts).
import type { handleBidiStreamingCall } from '@grpc/grpc-js';
import type { EntrypointExecRequest__Output } from '../../../protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { EntrypointExecResponse } from '../../../protocol/generated/hashicorp/waypoint/EntrypointExecResponse.js';
import type { KEEPALIVE } from '../../../protocol/keepalive.js';
import type { Principal } from '../../auth/authenticator.js';
import { sendReceivedFrames } from '../../rpc/framed-writes.js';
import { widenReceiveWindow } from '../../rpc/receive-window.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { firstMessage } from '../../rpc/first-message.js';
import { invalidArgument, reported } from '../../rpc/status.js';

type Protocols = Parameters<typeof checkClientProtocols>[1];
type Message = EntrypointExecRequest__Output | typeof KEEPALIVE;

export function entrypointExecStream(
  ctx: ServerContext,
  protocols: Protocols,
): handleBidiStreamingCall<Message, EntrypointExecResponse> {
  return async (call) => {
    let principal: Principal;
    try {
      checkClientProtocols(call.metadata, protocols);
      principal = await ctx.auth.principal(call.metadata, 'EntrypointExecStream');
    } catch (err) {
      call.emit('error', reported(ctx.log, err, 'EntrypointExecStream'));
      return;
    }
    if (call.cancelled) return;
    widenReceiveWindow(call);
    sendReceivedFrames(call); // relayed input goes out as the frame it came in
    const refuse = (err: unknown) => call.emit('error', reported(ctx.log, err, 'EntrypointExecStream'));
    // Whatever follows the open waits until the session's pipes take over.
    const options = { rpc: 'EntrypointExecStream', message: 'open', timeoutMs: ctx.firstMessageTimeoutMs };
    firstMessage<EntrypointExecRequest__Output>(call, options, (msg) => {
      try {
        if (msg.event !== 'open' || !msg.open) throw invalidArgument('the first EntrypointExecStream message must be open');
        if (!msg.open.instance_id) throw invalidArgument('open needs the instance_id');
        ctx.exec.open(msg.open.instance_id, msg.open.index, principal, call);
      } catch (err) {
        refuse(err);
      }
    }, refuse);
  };
}
