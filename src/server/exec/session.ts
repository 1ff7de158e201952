// One running exec session: the operator's Exec call and the entrypoint's EntrypointExecStream,
// piped both ways until one of them ends it. Each direction has backpressure: when a call's
// send buffer is full, the other call is paused until it drains, so a fast command (or a fast
// operator) is held back by gRPC flow control instead of piling up in the server. The session
// ends exactly once, and tells its owner how (to record it).
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { EntrypointExecRequest__Output } from '../../protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { EntrypointExecResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointExecResponse.js';
import type { ExecRequest__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecRequest.js';
import type { ExecResponse } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import { EXEC_ERROR_CODE, execErrorExitCode } from '../../protocol/exec-status.js';
import { INLINE_KEEPALIVE_BYTES, isKeepalive, type KEEPALIVE } from '../../protocol/keepalive.js';
import type { EntrypointExecCall } from './broker.js';
import { invalidArgument, RpcError, Status } from '../rpc/status.js';
import { entrypointInput, hasRaw, operatorOutput, takesRawResponses } from './relay-wire.js';

export type OperatorExecCall = ServerDuplexStream<ExecRequest__Output, ExecResponse>;

export type ExecOutcome =
  | { state: 'EXITED'; exitCode: number }
  | { state: 'FAILED'; error: string; exitCode?: number };

export interface ExecSessionOptions {
  instanceId: string;
  /** Inline keepalives to the entrypoint after this long without a message to it; 0: none. */
  keepaliveMs: number;
  /** Called once, when the session has ended either way. */
  onEnd(outcome: ExecOutcome): void;
}

type EpMessage = EntrypointExecRequest__Output | typeof KEEPALIVE;
// Raw bytes, not a message: the server's definition passes a Buffer through (api/definition.ts).
const RAW_KEEPALIVE = INLINE_KEEPALIVE_BYTES as unknown as EntrypointExecResponse;

export class ExecSession {
  private done = false;
  private eofSent = false;
  private wroteToEp = false;
  private readonly keepalive?: NodeJS.Timeout;

  constructor(
    private readonly operator: OperatorExecCall,
    private readonly ep: EntrypointExecCall,
    private readonly opts: ExecSessionOptions,
  ) {
    if (opts.keepaliveMs > 0) {
      this.keepalive = setInterval(() => {
        if (!this.wroteToEp) this.ep.write(RAW_KEEPALIVE);
        this.wroteToEp = false;
      }, opts.keepaliveMs);
    }
    operator.on('data', (req: ExecRequest__Output) => this.fromOperator(req));
    // A half-close means no more input, as input_eof does; output still flows back.
    operator.on('end', () => this.toEp({ input_eof: {} }, true));
    operator.on('cancelled', () => this.operatorGone());
    ep.on('data', (msg: EpMessage) => this.fromEp(msg));
    ep.on('end', () => this.broken('its stream ended without an exit status'));
    ep.on('cancelled', () => this.broken('the stream was cancelled (connection lost?)'));
    ep.on('error', (err: Error) => this.broken(err.message));
  }

  /** Both calls learn the session is on, then bytes flow (the operator's were held until now). */
  start(sessionId: number, deploymentId: string): void {
    this.toEp({ opened: true });
    this.toOperator({ started: { session_id: String(sessionId), instance_id: this.opts.instanceId, deployment_id: deploymentId } });
    this.operator.resume();
    this.ep.resume();
  }

  /** Server shutdown: the operator is told, the entrypoint's stream ends (it kills the command). */
  abort(reason: string): void {
    const message = `the session ended: ${reason}`;
    if (!this.finish({ state: 'FAILED', error: message, exitCode: 1 })) return;
    this.endOperator({ error: { code: EXEC_ERROR_CODE.UNAVAILABLE, message, exit_code: 1 } });
    this.failEp(new RpcError(Status.UNAVAILABLE, reason));
  }

  private fromOperator(req: ExecRequest__Output): void {
    if (this.done) return;
    switch (req.event) {
      case 'input':
        // Relayed as received when it can be (relay-wire.ts): the same bytes either way.
        if (req.input && req.input.length > 0) this.toEp(hasRaw(req) ? entrypointInput(req) : { input: req.input });
        return;
      case 'input_eof':
        this.toEp({ input_eof: {} }, true);
        return;
      case 'winch':
        if (req.winch) this.toEp({ winch: clampWindow(req.winch) });
        return;
      default: {
        const message = 'start may be sent only once, as the first message';
        this.finish({ state: 'FAILED', error: message });
        this.operator.emit('error', invalidArgument(message));
        this.failEp(new RpcError(Status.CANCELLED, 'the operator sent a malformed request'));
      }
    }
  }

  private fromEp(msg: EpMessage): void {
    if (this.done || isKeepalive(msg)) return;
    switch (msg.event) {
      case 'output': {
        if (hasRaw(msg) && takesRawResponses(this.operator)) return this.toOperator(operatorOutput(msg), true);
        const channel = msg.output!.channel === 'STDERR' ? 'STDERR' : 'STDOUT';
        this.toOperator({ output: { channel, data: msg.output!.data } }, true);
        return;
      }
      case 'exit': {
        const exitCode = msg.exit!.code;
        this.finish({ state: 'EXITED', exitCode });
        this.endOperator({ exit_code: exitCode });
        this.ep.end();
        return;
      }
      case 'error': {
        const code = msg.error!.error?.code ?? EXEC_ERROR_CODE.INTERNAL;
        const message = msg.error!.error?.message || `the command could not run (${Status[code] ?? code})`;
        const exitCode = execErrorExitCode(code);
        this.finish({ state: 'FAILED', error: message, exitCode });
        this.endOperator({ error: { code, message, exit_code: exitCode } });
        this.ep.end();
        return;
      }
      default:
        this.broken('it sent a second open', invalidArgument('open may be sent only once, as the first message'));
    }
  }

  /** Entrypoint → operator; pauses the entrypoint while the operator's buffer is full. */
  private toOperator(msg: ExecResponse | Buffer, flowControlled = false): void {
    if (!this.operatorOpen()) return;
    // A Buffer is an encoded ExecResponse, which the call's serializer passes through.
    if (!this.operator.write(msg as ExecResponse) && flowControlled) {
      this.ep.pause();
      this.operator.once('drain', () => this.ep.resume());
    }
  }

  /** Operator → entrypoint; pauses the operator while the entrypoint's buffer is full. */
  private toEp(msg: EntrypointExecResponse | Buffer, eof = false): void {
    if (this.done || this.ep.cancelled || this.ep.writableEnded) return;
    if (eof) {
      if (this.eofSent) return;
      this.eofSent = true;
    }
    this.wroteToEp = true;
    // A Buffer is an encoded EntrypointExecResponse, which the call's serializer passes through.
    if (!this.ep.write(msg as EntrypointExecResponse)) {
      this.operator.pause();
      this.ep.once('drain', () => this.operator.resume());
    }
  }

  private operatorGone(): void {
    if (!this.finish({ state: 'FAILED', error: 'operator went away' })) return;
    // An error status, not OK: the entrypoint kills the command's process group.
    this.failEp(new RpcError(Status.CANCELLED, 'the operator went away'));
  }

  private broken(reason: string, status = new RpcError(Status.UNAVAILABLE, reason)): void {
    const message = `instance ${this.opts.instanceId} lost the exec session: ${reason}`;
    if (!this.finish({ state: 'FAILED', error: message, exitCode: 1 })) return;
    this.endOperator({ error: { code: EXEC_ERROR_CODE.UNAVAILABLE, message, exit_code: 1 } });
    this.failEp(status);
  }

  private operatorOpen(): boolean {
    return !this.done && !this.operator.cancelled && !this.operator.writableEnded;
  }

  /** The operator's last message, then OK: the message says how the session ended. */
  private endOperator(last: ExecResponse): void {
    if (this.operator.cancelled || this.operator.writableEnded) return;
    this.operator.write(last);
    this.operator.end();
  }

  private failEp(status: RpcError): void {
    if (!this.ep.cancelled && !this.ep.writableEnded) this.ep.emit('error', status);
  }

  /** Marks the session ended; false when it already was (every end path goes through here first). */
  private finish(outcome: ExecOutcome): boolean {
    if (this.done) return false;
    this.done = true;
    clearInterval(this.keepalive);
    // Nothing reads them any more: let whatever is buffered go.
    this.operator.resume();
    this.ep.resume();
    this.opts.onEnd(outcome);
    return true;
  }
}

/**
 * L10: a resize mid-session is clamped to what a terminal can be (16 bits; 70000 cols would wrap
 * to 4464), not refused: one bad resize must not end the session.
 */
function clampWindow(w: { rows: number; cols: number; width: number; height: number }) {
  const clamp = (n: number, min: number) => Math.min(Math.max(Number.isInteger(n) ? n : min, min), 65_535);
  return { rows: clamp(w.rows, 1), cols: clamp(w.cols, 1), width: clamp(w.width, 0), height: clamp(w.height, 0) };
}
