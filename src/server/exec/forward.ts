// An exec session on an instance connected to another replica: the operator's call is piped to
// an Exec call on that replica, which runs the session as its own (it records it in the shared
// history under the original caller, and logs its start and end). Bytes pass without a decode
// where they can: an operator's input message is already an encoded ExecRequest, and the
// replica's ExecResponses go to a gRPC operator as they came (relay-wire.ts); only the console's
// WebSocket, which takes objects, gets them decoded. Each direction has backpressure, as in a
// local session; half-close, cancellation and the replica's status travel through unchanged.
import { type Client, type ClientDuplexStream, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { ExecRequest, ExecRequest__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecRequest.js';
import type { ExecResponse } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import type { ExecStart__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecStart.js';
import { EXEC_ERROR_CODE } from '../../protocol/exec-status.js';
import { isKeepalive } from '../../protocol/keepalive.js';
import { protocol } from '../../protocol/load.js';
import { actorOf } from '../audit.js';
import type { ServerLog } from '../log.js';
import type { CallOrigin } from '../replicas/origin.js';
import type { Peers } from '../replicas/peers.js';
import type { RemoteInstance } from '../replicas/replicas.js';
import { failedPrecondition, RpcError } from '../rpc/status.js';
import type { ExecBroker } from './broker.js';
import { hasRaw, RAW, takesRawResponses } from './relay-wire.js';
import type { OperatorExecCall } from './session.js';

export interface ForwardParts {
  peers: Peers;
  exec: ExecBroker;
  log: ServerLog;
}

type RemoteExec = ClientDuplexStream<ExecRequest | Buffer, Buffer>;

/** Exec on `client` whose requests may be encoded already and whose responses stay encoded. */
function openRawExec(client: Client, metadata: Metadata): RemoteExec {
  const m = protocol().waypoint_entrypoint.control.v1.Control.service.Exec;
  const serialize = (value: ExecRequest | Buffer) => (Buffer.isBuffer(value) ? value : m.requestSerialize(value));
  return client.makeBidiStreamRequest(m.path, serialize, (b: Buffer) => b, metadata, {});
}

function decodeResponse(buf: Buffer): ExecResponse {
  return protocol().waypoint_entrypoint.control.v1.Control.service.Exec.responseDeserialize(buf) as ExecResponse;
}

/** Runs the session on `target`'s replica; a failure to reach it ends the call with a status. */
export async function forwardExec(parts: ForwardParts, call: OperatorExecCall, origin: CallOrigin, start: ExecStart__Output, target: RemoteInstance): Promise<void> {
  const metadata = await parts.peers.metadata({ tokenId: origin.principal.tokenId, address: origin.peer });
  if (call.cancelled) return;
  const remote = openRawExec(parts.peers.client(target.replica), metadata);
  parts.log.info('exec forwarded', {
    event: 'exec.forward',
    app: target.info.app,
    instance: target.info.id,
    replica: target.replica.id,
    replica_address: target.replica.grpcAddress,
    ...actorOf(origin.principal, origin.peer),
  });
  new ForwardedExec(parts, call, remote, target).start(start);
}

class ForwardedExec {
  /** The replica answered with its headers: the session was placed there. */
  private placed = false;
  /** Some response came: a failure now is the session's, said in a last message. */
  private started = false;
  private done = false;
  private untrack: () => void = () => undefined;

  constructor(
    private readonly parts: ForwardParts,
    private readonly operator: OperatorExecCall,
    private readonly remote: RemoteExec,
    private readonly target: RemoteInstance,
  ) {}

  start(start: ExecStart__Output): void {
    const { operator, remote } = this;
    this.untrack = this.parts.exec.track({ instanceId: this.target.info.id, abort: (reason) => this.abort(reason) });
    // By instance: the replica must not choose again (its choice could be another replica's).
    const { tty, term, window_size: w, args } = start;
    remote.write({ start: { instance_id: this.target.info.id, args, tty, term, ...(w && { window_size: w }) } });
    remote.on('metadata', () => {
      this.placed = true;
      if (!this.done) operator.sendMetadata(new Metadata());
    });
    remote.on('data', (buf: Buffer) => this.toOperator(buf));
    remote.on('end', () => this.finish(() => this.endOperator()));
    remote.on('error', (err: ServiceError) => this.remoteFailed(err));
    operator.on('data', (req: ExecRequest__Output) => this.toRemote(req));
    // A half-close means no more input: the replica's session reads it as input_eof.
    operator.on('end', () => {
      if (!this.done) remote.end();
    });
    operator.on('cancelled', () => this.finish(() => remote.cancel()));
    operator.resume();
  }

  /** Server shutdown: the operator is told, the replica's call cancelled (it ends the command). */
  private abort(reason: string): void {
    this.finish(() => {
      this.remote.cancel();
      this.endOperator({ error: { code: EXEC_ERROR_CODE.UNAVAILABLE, message: `the session ended: ${reason}`, exit_code: 1 } });
    });
  }

  private toRemote(req: ExecRequest__Output): void {
    if (this.done || isKeepalive(req)) return;
    let msg: ExecRequest | Buffer;
    if (hasRaw(req)) msg = req[RAW]; // an encoded ExecRequest{input} already
    else if (req.event === 'input') msg = { input: req.input };
    else if (req.event === 'input_eof') msg = { input_eof: {} };
    else if (req.event === 'winch') msg = { winch: req.winch };
    else msg = { start: req.start }; // a second start: the replica refuses it, as a local session would
    if (!this.remote.write(msg)) {
      this.operator.pause();
      this.remote.once('drain', () => this.operator.resume());
    }
  }

  private toOperator(buf: Buffer): void {
    this.started = true;
    if (this.done || this.operator.cancelled || this.operator.writableEnded) return;
    const msg = takesRawResponses(this.operator) ? buf : decodeResponse(buf);
    if (!this.operator.write(msg as ExecResponse)) {
      this.remote.pause();
      this.operator.once('drain', () => this.remote.resume());
    }
  }

  private remoteFailed(err: ServiceError): void {
    if (err.code === status.CANCELLED && this.done) return; // we cancelled it
    this.finish(() => {
      const where = `replica ${this.target.replica.grpcAddress}, where instance ${this.target.info.id} is connected`;
      if (this.started) {
        const message = `the session ended: ${where}, lost it: ${err.details}`;
        return this.endOperator({ error: { code: EXEC_ERROR_CODE.UNAVAILABLE, message, exit_code: 1 } });
      }
      // Refused there before it began: the operator gets that status, as from a local refusal.
      // A replica not reached is this server's answer: FAILED_PRECONDITION (UNAVAILABLE reads as this server unreachable).
      const unreachable = err.code === status.UNAVAILABLE && !this.placed;
      const error = unreachable ? failedPrecondition(`cannot reach ${where}: ${err.details}`) : new RpcError(err.code, err.details);
      if (!this.operator.cancelled && !this.operator.writableEnded) this.operator.emit('error', error);
    });
  }

  /** The operator's last message (if any), then OK. */
  private endOperator(last?: ExecResponse): void {
    const { operator } = this;
    if (operator.cancelled || operator.writableEnded) return;
    if (last) operator.write(last);
    operator.end();
  }

  /** Runs `then` once, when the session ends either way. */
  private finish(then: () => void): void {
    if (this.done) return;
    this.done = true;
    this.untrack();
    this.operator.resume();
    this.remote.resume();
    then();
  }
}
