// One exec session: one EntrypointExecStream ↔ one process. We send `open`, wait for the
// server's `opened` (nothing runs before it), resolve the command (a clear NOT_FOUND or
// PERMISSION_DENIED instead of a process that dies at once), run it, relay input one way and
// output the other with backpressure both ways, and end with `exit` once every byte of output
// was written, or with `error` when it could not start. A stream that goes away takes the
// process and everything of its session with it (SIGKILL).
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { Readable } from 'node:stream';
import type { Session } from '../connection/session.js';
import type { Logger } from '../log.js';
import { EXEC_ERROR_CODE } from '../protocol/exec-status.js';
import { sendFramedInPlace } from '../protocol/framed-sends.js';
import type { _hashicorp_waypoint_EntrypointConfig_Exec__Output as ExecRequest } from '../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { EntrypointExecRequest } from '../protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { EntrypointExecResponse__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointExecResponse.js';
import { isKeepalive } from '../protocol/keepalive.js';
import { resolveCommand } from '../supervisor/command.js';
import { DISABLED_MESSAGE, failure, lookupFailure, requestProblem, SHUTDOWN_MESSAGE } from './errors.js';
import { spawnPipes } from './pipe-runner.js';
import { type ExecHost, type ExecProcess, ExecStartError } from './process.js';
import { DEFAULT_TERM, spawnPty, windowSize } from './pty-runner.js';
import { type Channel, encodeOutputInPlace, MAX_OUTPUT_CHUNK, OUTPUT_HEADROOM, outputMessages } from './wire.js';

/** Output bytes the call may hold before the readers wait (send): two full messages. */
const MAX_QUEUED_OUTPUT = 2 * MAX_OUTPUT_CHUNK;

export type { ExecRequest };

export interface ExecSessionOptions {
  session: Session;
  request: ExecRequest;
  logger: Logger;
  host: ExecHost;
  /** The app's env now, config included. */
  env: () => Record<string, string>;
  cwd: string;
  /** WAYPOINT_CEB_DISABLE_EXEC: refuse, spawn nothing. */
  disabled: boolean;
  /** How long the server may take to answer `open`. */
  openDeadlineMs: number;
  /** How long the server may take to end the call once we ended our side. */
  closeDeadlineMs?: number;
  /** After the process exited, how long output may stall (not by us) before it is given up. */
  outputStallMs?: number;
}

const CLOSE_DEADLINE_MS = 5_000;
const OUTPUT_STALL_MS = 1_000;

type Call = ClientDuplexStream<EntrypointExecRequest | Buffer, EntrypointExecResponse__Output>;
type State = 'opening' | 'running' | 'finished';

/** How the session ended, for the audit line. */
type Outcome = { exitCode: number } | { error: string };

export class ExecSession {
  readonly index: string;
  /** Resolves when the session is over: call ended and process killed or exited. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private state: State = 'opening';
  private call!: Call;
  private process?: ExecProcess;
  /** Server messages that came before the process existed (a server should not send any). */
  private early: EntrypointExecResponse__Output[] = [];
  private readonly startedAt = Date.now();
  private openTimer?: NodeJS.Timeout;
  /** Output readers paused until the call drains. */
  private pausedReaders = 0;
  private lastOutputAt = 0;
  /** Output bytes written to the call and not yet taken by it (send). */
  private queuedOutput = 0;
  private readonly waitingReaders = new Set<Readable>();
  /** Whether sendFramedInPlace took on this call (tried once, at the first framed output). */
  private framedSends: boolean | undefined;
  private readonly onAbort = () => this.lost('the server connection ended');

  constructor(private readonly options: ExecSessionOptions) {
    this.index = options.request.index;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    const { session, request, logger, openDeadlineMs } = this.options;
    const pty = request.pty?.enable ?? false;
    logger.info('exec session started', { index: this.index, args: JSON.stringify(request.args), pty });
    try {
      this.call = session.client.EntrypointExecStream(session.metadata()) as unknown as Call;
    } catch (err) {
      // A channel closed under us: this session cannot be, the others are not disturbed.
      this.state = 'finished';
      this.audit({ error: `the stream could not be opened: ${(err as Error).message}` });
      this.resolveDone();
      return;
    }
    this.call.on('data', (message: unknown) => this.receive(message));
    this.call.on('error', () => {}); // 'status' carries the same; 'error' needs a listener
    this.call.on('status', (status) => {
      if (this.state !== 'finished') this.lost(`the stream ended (${status.code}: ${status.details || 'no details'})`);
      this.settle();
    });
    if (session.signal.aborted) return this.lost('the server connection ended');
    session.signal.addEventListener('abort', this.onAbort, { once: true });
    this.call.write({ open: { instance_id: session.instanceId, index: this.index } });
    if (this.options.disabled) {
      this.finish(failure(EXEC_ERROR_CODE.FAILED_PRECONDITION, DISABLED_MESSAGE));
      return;
    }
    this.openTimer = setTimeout(() => this.lost(`the server did not answer open within ${openDeadlineMs} ms`), openDeadlineMs);
  }

  /** We are exiting: the process is killed and the server told why, if it still listens. */
  shutdown(): void {
    if (this.state === 'finished') return;
    this.process?.kill();
    this.finish(failure(EXEC_ERROR_CODE.UNAVAILABLE, SHUTDOWN_MESSAGE));
  }

  /** A gRPC listener: an error in handling one message ends this session, never the entrypoint. */
  private receive(message: unknown): void {
    try {
      this.receiveOne(message);
    } catch (err) {
      this.options.logger.warn('exec session failed; it is ended', { index: this.index, error: (err as Error).message });
      this.process?.kill();
      this.finish(failure(EXEC_ERROR_CODE.INTERNAL, `the session failed: ${(err as Error).message}`));
    }
  }

  private receiveOne(message: unknown): void {
    if (isKeepalive(message) || this.state === 'finished') return;
    const m = message as EntrypointExecResponse__Output;
    if (this.state === 'opening') {
      if (m.event === 'opened') {
        clearTimeout(this.openTimer);
        if (m.opened) this.run();
        else this.lost('the server refused to open the session');
      } else {
        this.early.push(m);
      }
      return;
    }
    this.handle(m);
  }

  private handle(m: EntrypointExecResponse__Output): void {
    const proc = this.process;
    if (!proc) return;
    switch (m.event) {
      case 'input':
        if (m.input && m.input.length > 0 && !proc.write(m.input)) {
          this.call.pause();
          proc.onceDrain(() => this.call.resume());
        }
        return;
      case 'input_eof':
        proc.endInput();
        return;
      case 'winch':
        if (m.winch) proc.resize(windowSize(m.winch));
        return;
      default:
        return; // a second `opened`: nothing to do
    }
  }

  /**
   * Starts the process. Called from a gRPC listener: nothing may throw out of it (that would end
   * the entrypoint, and the app with it); whatever keeps the command from starting becomes an
   * `error` message to the server.
   */
  private run(): void {
    try {
      this.spawn();
    } catch (err) {
      const code = err instanceof ExecStartError ? err.code : EXEC_ERROR_CODE.INTERNAL;
      this.process?.kill();
      this.finish(failure(code, (err as Error).message));
    }
  }

  private spawn(): void {
    const { request, env: currentEnv, cwd, host } = this.options;
    const pty = request.pty?.enable ? request.pty : undefined;
    const problem = requestProblem(request.args, pty?.term);
    if (problem) return this.finish(failure(EXEC_ERROR_CODE.INVALID_ARGUMENT, problem));
    const [command, ...args] = request.args;
    const env = currentEnv();
    const found = resolveCommand(command, env.PATH, cwd);
    if (!found.ok) {
      const { code, message } = lookupFailure(command, found);
      return this.finish(failure(code, message));
    }
    const spec = { command, file: found.path, args, env, cwd };
    this.process = pty
      ? spawnPty(spec, { term: pty.term || DEFAULT_TERM, size: windowSize(pty.window_size) }, host)
      : spawnPipes(spec, host);
    this.state = 'running';
    const proc = this.process;
    const outputs = [this.relay(proc.stdout, 'STDOUT')];
    if (proc.stderr) outputs.push(this.relay(proc.stderr, 'STDERR'));
    for (const m of this.early.splice(0)) this.handle(m);
    void proc.exited.then(async (code) => {
      await this.outputEnded(outputs);
      this.finish({ exit: { code } });
    });
  }

  /**
   * One output message to the call; false once the call is congested: grpc-js's queue is full
   * (16 messages), or MAX_QUEUED_OUTPUT bytes wait in it (16 messages of 1 MiB would be a lot to
   * hold for a server that does not read). The readers wait until it has taken them.
   */
  private send(message: Buffer): boolean {
    this.queuedOutput += message.length;
    const ok = this.call.write(message, () => {
      this.queuedOutput -= message.length;
      if (this.queuedOutput >= MAX_QUEUED_OUTPUT || this.call.writableNeedDrain) return;
      for (const reader of this.waitingReaders) {
        this.pausedReaders--;
        reader.resume();
      }
      this.waitingReaders.clear();
    });
    return ok && this.queuedOutput < MAX_QUEUED_OUTPUT;
  }

  /** Sends a reader's bytes as output messages, pausing it while the call is congested. */
  private relay(reader: Readable, channel: Channel): Promise<void> {
    reader.on('data', (chunk: Buffer) => {
      if (this.state !== 'running') return;
      this.lastOutputAt = Date.now();
      // Framed reads leave room for the header before the bytes: one message, no copy.
      const framed = this.process!.framedOutput && chunk.byteOffset >= OUTPUT_HEADROOM && chunk.length <= MAX_OUTPUT_CHUNK;
      let ok = true;
      if (framed) {
        // Once the call is sending (its filters exist): framed in place, without grpc-js's copy.
        this.framedSends ??= sendFramedInPlace(this.call);
        ok = this.send(encodeOutputInPlace(channel, chunk));
      } else {
        for (const message of outputMessages(channel, chunk)) ok = this.send(message);
      }
      if (ok) return;
      reader.pause();
      this.pausedReaders++;
      this.waitingReaders.add(reader);
    });
    return new Promise((resolve) => {
      reader.once('end', resolve);
      reader.once('close', resolve);
      reader.once('error', () => resolve());
    });
  }

  /**
   * Every output reader ended. A process that escaped its session (setsid of its own) could
   * hold a pipe open forever: once no byte came for outputStallMs, and not because we paused
   * reading, what it may still write is given up.
   */
  private async outputEnded(outputs: Promise<void>[]): Promise<void> {
    const stallMs = this.options.outputStallMs ?? OUTPUT_STALL_MS;
    this.lastOutputAt = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const stalled = new Promise<void>((resolve) => {
      const check = () => {
        if (this.state === 'finished') return resolve(); // nothing more is sent anyway
        if (this.pausedReaders === 0 && Date.now() - this.lastOutputAt >= stallMs) return resolve();
        timer = setTimeout(check, stallMs / 4);
      };
      timer = setTimeout(check, stallMs / 4);
    });
    await Promise.race([Promise.all(outputs), stalled]);
    clearTimeout(timer);
    this.dropOutput();
  }

  /** Our ends of the output: closed once nothing more of them will be sent. */
  private dropOutput(): void {
    this.process?.stdout.destroy();
    this.process?.stderr?.destroy();
  }

  /** The last message (exit or error), then our side of the call ends. */
  private finish(last: Pick<EntrypointExecRequest, 'exit' | 'error'>): void {
    if (this.state === 'finished') return;
    this.state = 'finished';
    clearTimeout(this.openTimer);
    this.dropOutput();
    this.call.write(last);
    this.call.end();
    this.audit(last.exit ? { exitCode: last.exit.code ?? 0 } : { error: last.error?.error?.message ?? 'error' });
    // The server ends the call in turn; one that does not is not waited for long.
    const timer = setTimeout(() => this.call.cancel(), this.options.closeDeadlineMs ?? CLOSE_DEADLINE_MS);
    timer.unref();
    void this.done.then(() => clearTimeout(timer));
  }

  /** The stream is gone (or never came to be): the process goes with it. */
  private lost(reason: string): void {
    if (this.state === 'finished') return;
    this.state = 'finished';
    clearTimeout(this.openTimer);
    this.process?.kill();
    this.dropOutput();
    this.call.cancel();
    this.audit({ error: reason });
  }

  private audit(outcome: Outcome): void {
    const { logger } = this.options;
    const fields = { index: this.index, duration_ms: Date.now() - this.startedAt };
    if ('exitCode' in outcome) logger.info('exec session ended', { ...fields, exit_code: outcome.exitCode });
    else logger.info('exec session ended', { ...fields, error: outcome.error });
  }

  private settle(): void {
    this.options.session.signal.removeEventListener('abort', this.onAbort);
    const proc = this.process;
    if (!proc) return this.resolveDone();
    // Killed or exited: either way its exit is near (SIGKILL cannot be ignored).
    void proc.exited.then(() => this.resolveDone());
  }
}
