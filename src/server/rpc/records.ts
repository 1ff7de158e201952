// A debug record of every RPC when it ends: its method, status, duration, peer and caller, for
// streams as for unary calls. A gRPC server interceptor, installed only when the log wants debug
// records, so that a server at info pays nothing per call.
import { type Metadata, ServerInterceptingCall, type ServerInterceptor, status as Status } from '@grpc/grpc-js';
import { tokenOf } from '../../protocol/metadata.js';
import { formatPeer } from '../../rules/listen.js';
import type { TokenSigner } from '../auth/tokens.js';
import type { ServerLog } from '../log.js';

export function rpcRecords(log: ServerLog, signer: TokenSigner): ServerInterceptor {
  return (method, call) => {
    const started = performance.now();
    let caller: { actor_token?: string; actor_kind?: string } = {};
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            caller = callerOf(signer, metadata);
            pass(metadata);
          },
        });
      },
      sendStatus(status, next) {
        log.debug('rpc', {
          event: 'rpc',
          rpc: method.path.slice(method.path.lastIndexOf('/') + 1),
          service: method.path.slice(1, method.path.lastIndexOf('/')),
          code: Status[status.code ?? Status.UNKNOWN],
          duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
          peer: formatPeer(call.getPeer()),
          ...caller,
        });
        next(status);
      },
    });
  };
}

/** The id and kind of a well-signed token in the call, whether or not it was still valid. */
function callerOf(signer: TokenSigner, metadata: Metadata): { actor_token?: string; actor_kind?: string } {
  const token = tokenOf((key) => metadata.get(key));
  const verified = token ? signer.verify(token) : undefined;
  return verified?.ok ? { actor_token: verified.claims.id, actor_kind: verified.claims.kind } : {};
}
