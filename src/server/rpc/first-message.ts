// The first message of a bidirectional stream that must open with one (Exec's `start`,
// EntrypointExecStream's `open`, Connect's `accept`): inline keepalives before it are skipped;
// once it comes the call is paused, so that what follows waits in gRPC's flow control until the
// handler's next reader resumes it; a stream that ends first, or sends nothing real in time, is
// refused with a status.
import { isKeepalive } from '../../protocol/keepalive.js';
import { invalidArgument, RpcError, Status } from './status.js';

/** How long a stream may take to send its first message. */
export const DEFAULT_FIRST_MESSAGE_TIMEOUT_MS = 5_000;

/** What this needs of a server call (it emits 'cancelled' too). */
export interface FirstMessageCall {
  on(event: string, listener: (...args: any[]) => void): unknown;
  off(event: string, listener: (...args: any[]) => void): unknown;
  pause(): unknown;
}

export interface FirstMessageOptions {
  /** The RPC's name and its first message's, for the refusals: 'Exec', 'start'. */
  rpc: string;
  message: string;
  timeoutMs: number;
}

/**
 * Calls `onFirst` with the first message that is not an inline keepalive, the call paused, or
 * `refuse` with INVALID_ARGUMENT (the stream ended before it) or DEADLINE_EXCEEDED (it did not
 * come within the timeout). Exactly one of them, at most once; neither when the call is cancelled.
 */
export function firstMessage<T>(
  call: FirstMessageCall,
  { rpc, message, timeoutMs }: FirstMessageOptions,
  onFirst: (msg: T) => void,
  refuse: (err: RpcError) => void,
): void {
  const done = () => {
    clearTimeout(timer);
    call.off('data', onData);
    call.off('end', onEnd);
    call.off('cancelled', done);
  };
  const onData = (msg: T) => {
    if (isKeepalive(msg)) return;
    done();
    call.pause();
    onFirst(msg);
  };
  const onEnd = () => {
    done();
    refuse(invalidArgument(`the ${rpc} call ended before its ${message} message`));
  };
  const timer = setTimeout(() => {
    done();
    refuse(new RpcError(Status.DEADLINE_EXCEEDED, `the ${rpc} call sent no ${message} message within ${timeoutMs} ms`));
  }, timeoutMs);
  call.on('data', onData);
  call.on('end', onEnd);
  call.on('cancelled', done);
}
