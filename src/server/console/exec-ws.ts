// The console's terminal: a WebSocket at /api/v1/exec, carried into the same exec operator as
// `waypoint-ctl exec` (exec/operator.ts's placeExec: the same checks, placement, history record
// and audit lines). The socket is adapted to the operator's side of a gRPC Exec call (WsExecCall):
// its messages become ExecRequests, the session's ExecResponses become its frames, and its
// backpressure is the call's. Origin must be this host (absent only with Bearer: not a browser);
// the caller as for every route, refused after the upgrade with close code 1008 so the page can
// say why.
import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import type { ExecRequest__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecRequest.js';
import type { ExecResponse } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import type { ExecStart__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecStart.js';
import { formatPeer } from '../../rules/listen.js';
import { placeExec } from '../exec/operator.js';
import type { OperatorExecCall } from '../exec/session.js';
import { RpcError, Status, toRpcError } from '../rpc/status.js';
import { authenticate, type Caller, peerOf, trackCaller } from './auth.js';
import { refuseUpgrade, toHttpError } from './http.js';
import { sameOrigin } from './origin.js';
import type { ConsoleParts } from './router.js';

/** A message from the browser at most (stdin arrives in small pieces; a paste is split by the page). */
const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Args empty: the instance's $SHELL when it has one that runs, else sh. */
export const DEFAULT_SHELL = ['sh', '-c', 'if [ -n "$SHELL" ] && command -v "$SHELL" >/dev/null 2>&1; then exec "$SHELL"; fi; exec sh'];
/** Between two pings to the browser. */
const PING_MS = 30_000;
const CLOSE_NORMAL = 1000;
const CLOSE_POLICY = 1008;
const CLOSE_ERROR = 1011;
const OUT_STDOUT = 1;
const OUT_STDERR = 2;

const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });

export function handleExecUpgrade(parts: ConsoleParts, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', () => undefined);
  const origin = req.headers.origin;
  const bearer = req.headers.authorization !== undefined;
  if (origin === undefined ? !bearer : !sameOrigin(origin, req.headers.host)) {
    const why = origin === undefined ? 'no Origin header (a browser always sends one; curl and scripts use Authorization: Bearer)' : `Origin ${JSON.stringify(origin.slice(0, 100))} is another site`;
    return refuseUpgrade(socket, 403, `refused: ${why}`);
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    // A browser sends its start as soon as the socket opens, while the caller is still being
    // checked (a store query): what comes meanwhile is held, then handed over in order.
    const early: Array<[RawData, boolean]> = [];
    const hold = (data: RawData, isBinary: boolean) => early.push([data, isBinary]);
    ws.on('message', hold);
    authenticate({ auth: parts.ctx.auth, store: parts.ctx.store, sessions: parts.sessions }, req).then(
      (caller) => {
        ws.off('message', hold);
        run(parts, caller, ws, req);
        for (const [data, isBinary] of early) ws.emit('message', data, isBinary);
      },
      (err: unknown) => fail(ws, toHttpError(err).message, CLOSE_POLICY),
    );
  });
}

function run(parts: ConsoleParts, caller: Caller, ws: WebSocket, req: IncomingMessage): void {
  if (ws.readyState !== WebSocket.OPEN) return; // gone while it was authenticated
  const { ctx } = parts;
  const untrack = trackCaller(parts.sessions, caller, () => fail(ws, 'your console session ended (signed out, or its token revoked): sign in again', CLOSE_POLICY));
  ws.once('close', untrack);
  heartbeat(ws);
  const timer = setTimeout(() => fail(ws, `no start message within ${ctx.firstMessageTimeoutMs} ms: send {"type":"start",...} first`, CLOSE_ERROR), ctx.firstMessageTimeoutMs);
  ws.once('close', () => clearTimeout(timer));
  ws.once('message', (data, isBinary) => {
    clearTimeout(timer);
    let start: ExecStart__Output;
    try {
      start = startOf(parts, isBinary ? undefined : data.toString());
    } catch (err) {
      return fail(ws, toRpcError(err).message, CLOSE_ERROR);
    }
    const call = new WsExecCall(ws, peerOf(req));
    // Awaited: whether the operator throws or (once the store is async) rejects, the page is told.
    (async () => placeExec(ctx, call as unknown as OperatorExecCall, { principal: caller.principal, peer: formatPeer(peerOf(req)) }, start))().catch((err: unknown) => call.refuse(toRpcError(err).message));
  });
}

/** The start message as the exec operator takes it; INVALID_ARGUMENT for a malformed one. */
export function startOf(parts: Pick<ConsoleParts, 'ctx'>, text: string | undefined): ExecStart__Output {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text ?? '') as Record<string, unknown>;
  } catch {
    throw bad('the first message must be text JSON {"type":"start","app",...}');
  }
  if (typeof m !== 'object' || m === null || m.type !== 'start') throw bad('the first message must be {"type":"start",...}');
  const app = m.app ?? '';
  const instance = m.instance ?? '';
  const args = m.args ?? [];
  if (typeof app !== 'string' || typeof instance !== 'string') throw bad('app and instance must be strings');
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) throw bad('args must be an array of strings');
  if (instance && app) {
    const live = parts.ctx.registry.get(instance);
    if (live && live.info.app !== app) throw bad(`instance ${instance} is of app ${live.info.app}, not ${app}`);
  }
  const tty = m.tty === true;
  const size = (n: unknown) => (typeof n === 'number' && Number.isInteger(n) ? n : 0);
  return {
    app: instance ? '' : app,
    instance_id: instance,
    args: args.length === 0 ? DEFAULT_SHELL : (args as string[]),
    tty,
    term: typeof m.term === 'string' ? m.term : '',
    window_size: tty && (m.cols !== undefined || m.rows !== undefined) ? { rows: size(m.rows), cols: size(m.cols), width: 0, height: 0 } : null,
  };
}

/** A browser gone without a close (a laptop shut) is noticed: a ping each interval, cut if the last went unanswered. */
function heartbeat(ws: WebSocket): void {
  let alive = true;
  ws.on('pong', () => (alive = true));
  const timer = setInterval(() => {
    if (ws.readyState !== WebSocket.OPEN) return; // closing: ping would throw
    if (!alive) return void ws.terminate();
    alive = false;
    ws.ping();
  }, PING_MS);
  ws.once('close', () => clearInterval(timer));
}

function bad(message: string): RpcError {
  return new RpcError(Status.INVALID_ARGUMENT, message);
}

function fail(ws: WebSocket, error: string, code: number): void {
  if (ws.readyState !== WebSocket.OPEN) return;
  ws.send(JSON.stringify({ type: 'error', error }));
  ws.close(code, code === CLOSE_POLICY ? 'refused' : 'error');
}

/**
 * The operator's side of an exec session over a WebSocket, as the session drives a gRPC call:
 * readable ExecRequests (stdin, resize, eof), writable ExecResponses, 'cancelled' when the
 * browser goes, emit('error') to refuse. Output waits for the socket to take it before the next
 * (the session then pauses the instance's stream), input pauses the socket while unread.
 */
class WsExecCall extends Duplex {
  cancelled = false;
  private failed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly peer: string,
  ) {
    super({ objectMode: true, readableHighWaterMark: 64, writableHighWaterMark: 16 });
    ws.on('message', (data, isBinary) => this.fromBrowser(data, isBinary));
    ws.once('close', () => {
      if (this.writableEnded || this.failed) return;
      this.cancelled = true;
      this.emit('cancelled');
    });
    this.on('error', (err: Error) => this.refuse(err.message));
  }

  getPeer(): string {
    return this.peer;
  }

  sendMetadata(): void {}

  /** The session could not be placed or failed: the page is told, the socket closed. */
  refuse(message: string): void {
    if (this.failed) return;
    this.failed = true;
    fail(this.ws, message, CLOSE_ERROR);
  }

  _read(): void {
    if (this.ws.isPaused) this.ws.resume();
  }

  _write(msg: ExecResponse, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    if (this.ws.readyState !== WebSocket.OPEN) return done();
    const sent = () => done();
    if (msg.started) {
      this.ws.send(JSON.stringify({ type: 'started', instanceId: msg.started.instance_id, sessionId: msg.started.session_id }), sent);
    } else if (msg.output) {
      const data = Buffer.from(msg.output.data ?? []);
      const frame = Buffer.allocUnsafe(data.length + 1);
      frame[0] = msg.output.channel === 'STDERR' ? OUT_STDERR : OUT_STDOUT;
      data.copy(frame, 1);
      this.ws.send(frame, { binary: true }, sent);
    } else if (msg.error) {
      this.failed = true;
      this.ws.send(JSON.stringify({ type: 'error', error: msg.error.message, exitCode: msg.error.exit_code ?? null }), sent);
    } else if (msg.exit_code !== undefined) {
      this.ws.send(JSON.stringify({ type: 'exit', code: msg.exit_code }), sent);
    } else done();
  }

  _final(done: (err?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.close(this.failed ? CLOSE_ERROR : CLOSE_NORMAL, this.failed ? 'error' : 'exited');
    done();
  }

  private fromBrowser(data: RawData, isBinary: boolean): void {
    let req: ExecRequest__Output | undefined;
    if (isBinary) {
      const input = Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
      if (input.length > 0) req = { event: 'input', input };
    } else {
      let m: { type?: unknown; cols?: unknown; rows?: unknown };
      try {
        m = JSON.parse(data.toString()) as typeof m;
      } catch {
        return this.refuse('a text message must be JSON: {"type":"resize",...} or {"type":"eof"}');
      }
      if (m.type === 'eof') req = { event: 'input_eof', input_eof: {} };
      else if (m.type === 'resize') {
        const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.trunc(v) : 0);
        req = { event: 'winch', winch: { rows: n(m.rows), cols: n(m.cols), width: 0, height: 0 } };
      } else return this.refuse(`unknown message type ${JSON.stringify(String(m.type).slice(0, 40))}: resize or eof (stdin goes in binary messages)`);
    }
    if (req && !this.push(req)) this.ws.pause();
  }
}
