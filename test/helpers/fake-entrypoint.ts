// A scripted fake *entrypoint* for the server's exec broker: it registers over raw gRPC as an
// instance (exec enabled or not), watches its config stream for exec entries, opens each new
// index once on EntrypointExecStream, and plays a tiny command set instead of running anything:
//
//   cat                 stdin to stdout; exit 0 at input_eof
//   echo WORDS...       the words and a newline on stdout; exit 0
//   stderr TEXT         "out" on stdout, TEXT on stderr; exit 0
//   exit N              exit N
//   burst BYTES N       BYTES zero bytes on stdout at once, then exit N
//   fail CODE MESSAGE   an exec error (a google.rpc code), as for a command that cannot run
//   pty                 the pty it got as JSON; then on each winch the new size; input echoed
//   hang                nothing, until the stream ends
//   anything else       error NOT_FOUND "<cmd>: command not found"
//
//   const ep = await FakeEntrypoint.connect(server, 'web');
//   ... ctl exec --app web -- echo hi ...
//   await ep.waitForSessions(1); ep.sessions[0].args ...
import type { EntrypointConfig__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { EntrypointConfigResponse__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { EntrypointExecRequest } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { EntrypointExecResponse__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointExecResponse.js';
import type { WaypointClient } from '../../src/protocol/generated/hashicorp/waypoint/Waypoint.js';
import { EXEC_ERROR_CODE } from '../../src/protocol/exec-status.js';
import { isKeepalive, type KEEPALIVE } from '../../src/protocol/keepalive.js';
import { ulid } from '../../src/ids.js';
import { convertInviteToken, type grpc, md, recordStream, type StreamRecord, waypointClient } from './grpc.js';
import { waitFor } from './run.js';
import type { TestServer } from './server.js';

type ConfigExec = EntrypointConfig__Output['exec'][number];

export interface FakeEntrypointOptions {
  /** Join an existing deployment with one of its entrypoint tokens (default: a new deployment). */
  deploymentId?: string;
  token?: string;
  instanceId?: string;
  /** Registers with disable_exec (WAYPOINT_CEB_DISABLE_EXEC). */
  disableExec?: boolean;
  /** false: sees exec entries but never opens them (an entrypoint that is stuck). */
  autoOpen?: boolean;
  /** Asks for inline keepalives on its exec streams. */
  inlineKeepalives?: boolean;
}

/** One EntrypointExecStream as the entrypoint sees it. */
export class ExecStream {
  private readonly record: StreamRecord<EntrypointExecResponse__Output>;
  private listeners: Array<(m: EntrypointExecResponse__Output) => void> = [];

  constructor(readonly call: grpc.ClientDuplexStream<EntrypointExecRequest, EntrypointExecResponse__Output | typeof KEEPALIVE>) {
    this.record = recordStream(call, 'exec', (m: EntrypointExecResponse__Output) => {
      for (const l of this.listeners) l(m);
    });
  }

  get received(): EntrypointExecResponse__Output[] {
    return this.record.messages;
  }

  get keepalives(): number {
    return this.record.keepalives;
  }

  get ended(): boolean {
    return this.record.ended;
  }

  get error(): grpc.ServiceError | undefined {
    return this.record.error;
  }

  onMessage(listener: (m: EntrypointExecResponse__Output) => void): void {
    this.listeners.push(listener);
  }

  send(msg: EntrypointExecRequest): boolean {
    return this.call.write(msg);
  }

  get opened(): boolean {
    return this.received.some((m) => m.event === 'opened' && m.opened);
  }

  waitForOpened(): Promise<void> {
    return waitFor(() => this.opened || this.ended, { what: () => 'opened (or the stream to end)' });
  }

  /** Waits for the server to end the stream; the error status, if any. */
  waitForEnd(timeoutMs = 10_000): Promise<grpc.ServiceError | undefined> {
    return this.record.waitForEnd(timeoutMs);
  }

}

/** An exec session the fake opened, with what it was asked to run. */
export interface FakeSession {
  index: string;
  args: string[];
  pty: ConfigExec['pty'];
  stream: ExecStream;
  /** Bytes of input received, in order. */
  input: Buffer[];
  inputEof: boolean;
}

const all = new Set<FakeEntrypoint>();

/** For afterEach: closes every fake entrypoint's calls and clients. */
export function closeFakeEntrypoints(): void {
  for (const ep of all) ep.close();
  all.clear();
}

export class FakeEntrypoint {
  readonly sessions: FakeSession[] = [];
  /** Every exec entry seen in a config message, by index. */
  readonly seen = new Map<string, ConfigExec>();
  private readonly opened = new Set<string>();
  private readonly raw: ExecStream[] = [];

  /** Config messages received, in order (keepalives dropped). */
  readonly configs: EntrypointConfigResponse__Output[] = [];
  configEnded = false;
  configError?: grpc.ServiceError;
  private configCall?: grpc.ClientReadableStream<unknown>;

  private constructor(
    readonly id: string,
    readonly app: string,
    readonly deploymentId: string,
    readonly token: string,
    readonly wp: WaypointClient,
    private readonly opts: FakeEntrypointOptions,
  ) {}

  static async connect(server: TestServer, app: string, opts: FakeEntrypointOptions = {}): Promise<FakeEntrypoint> {
    const wp = waypointClient(server.addr, server.clientTls);
    let { deploymentId, token } = opts;
    if (!deploymentId || !token) {
      const created = await server.createDeployment(app);
      deploymentId = created.deploymentId;
      token = (await convertInviteToken(wp, created.inviteToken)).token;
    }
    const id = opts.instanceId ?? ulid();
    const ep = new FakeEntrypoint(id, app, deploymentId, token, wp, opts);
    all.add(ep);
    const call = wp.EntrypointConfig(
      { deployment_id: deploymentId, instance_id: id, type: 'LONG_RUNNING', disable_exec: opts.disableExec === true },
      md({ token, entrypointProtocol: '1,1', apiProtocol: '1,1' }),
    );
    ep.configCall = call;
    call.on('data', (m: EntrypointConfigResponse__Output | typeof KEEPALIVE) => {
      if (isKeepalive(m)) return;
      ep.configs.push(m);
      ep.onConfig();
    });
    call.on('error', (err: grpc.ServiceError) => {
      ep.configError = err;
      ep.configEnded = true;
    });
    call.on('end', () => {
      ep.configEnded = true;
    });
    await waitFor(() => ep.configs.length > 0 || ep.configEnded, { what: () => `the first config of ${id}` });
    if (ep.configError) throw new Error(`the config stream of ${id} failed: ${ep.configError.details}`);
    return ep;
  }

  /** The exec list of the latest config message. */
  latestExec(): ConfigExec[] {
    return this.configs[this.configs.length - 1]?.config?.exec ?? [];
  }

  waitForSeen(n: number): Promise<void> {
    return waitFor(() => this.seen.size >= n, { what: () => `${n} exec entries in ${this.id}'s config (seen ${this.seen.size})` });
  }

  waitForSessions(n: number): Promise<void> {
    return waitFor(() => this.sessions.length >= n, { what: () => `${n} exec sessions opened by ${this.id} (got ${this.sessions.length})` });
  }

  /** Opens EntrypointExecStream and sends `open` (any index, any instance; default token its own). */
  openRaw(index: string, opts: { instanceId?: string; token?: string } = {}): ExecStream {
    const metadata = md({ token: opts.token ?? this.token, entrypointProtocol: '1,1', apiProtocol: '1,1', inlineKeepalives: this.opts.inlineKeepalives });
    const stream = new ExecStream(this.wp.EntrypointExecStream(metadata));
    this.raw.push(stream);
    stream.send({ open: { instance_id: opts.instanceId ?? this.id, index } });
    return stream;
  }

  /** Ends its config stream: the instance disconnects. */
  disconnect(): void {
    this.configCall?.cancel();
  }

  close(): void {
    this.configCall?.cancel();
    for (const s of this.raw) s.call.cancel();
    this.wp.close();
  }

  /** Opens each exec index of a new config message once, as the real entrypoint does. */
  private onConfig(): void {
    for (const entry of this.latestExec()) {
      if (!this.seen.has(entry.index)) this.seen.set(entry.index, entry);
      if (this.opts.autoOpen === false || this.opened.has(entry.index)) continue;
      this.opened.add(entry.index);
      this.run(entry);
    }
  }

  private run(entry: ConfigExec): void {
    const stream = this.openRaw(entry.index);
    const session: FakeSession = { index: entry.index, args: entry.args, pty: entry.pty, stream, input: [], inputEof: false };
    this.sessions.push(session);
    const out = (data: Buffer | string, channel: 'STDOUT' | 'STDERR' = 'STDOUT') => stream.send({ output: { channel, data: Buffer.from(data) } });
    const exit = (code: number) => {
      stream.send({ exit: { code } });
      stream.call.end();
    };
    const [cmd, ...rest] = entry.args;
    stream.onMessage((m) => {
      if (m.event === 'opened') {
        switch (cmd) {
          case 'cat':
          case 'pty':
          case 'hang':
            if (cmd === 'pty') out(`${JSON.stringify({ tty: entry.pty?.enable ?? false, term: entry.pty?.term ?? '', size: entry.pty?.window_size ?? null })}\n`);
            return;
          case 'echo':
            out(`${rest.join(' ')}\n`);
            return exit(0);
          case 'stderr':
            out('out\n');
            out(`${rest.join(' ')}\n`, 'STDERR');
            return exit(0);
          case 'exit':
            return exit(Number(rest[0]));
          case 'burst':
            for (let left = Number(rest[0]); left > 0; left -= 64 * 1024) out(Buffer.alloc(Math.min(left, 64 * 1024)));
            return exit(Number(rest[1]));
          case 'fail':
            stream.send({ error: { error: { code: Number(rest[0]), message: rest.slice(1).join(' ') } } });
            stream.call.end();
            return;
          default:
            stream.send({ error: { error: { code: EXEC_ERROR_CODE.NOT_FOUND, message: `${cmd}: command not found` } } });
            stream.call.end();
            return;
        }
      }
      if (m.event === 'input' && m.input) {
        session.input.push(m.input);
        if (cmd === 'cat' || cmd === 'pty') {
          // Echo with backpressure: a full send buffer pauses our reading of the server.
          if (!out(m.input)) {
            stream.call.pause();
            stream.call.once('drain', () => stream.call.resume());
          }
        }
      } else if (m.event === 'input_eof') {
        session.inputEof = true;
        if (cmd === 'cat') exit(0);
      } else if (m.event === 'winch' && cmd === 'pty') {
        out(`winch ${m.winch?.rows}x${m.winch?.cols}\n`);
      }
    });
  }
}
