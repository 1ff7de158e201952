// A scriptable stand-in for a Waypoint server, on grpc-js and our own service definitions: it
// lets the entrypoint's client side be tested against behaviours the real server never shows
// (a newer protocol, silence, inline keepalives on demand, configs pushed at will, a log stream
// refused) and records what it was sent, log lines included.
import type * as grpcTypes from '@grpc/grpc-js';
import type { EntrypointConfig } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { EntrypointExecRequest__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { EntrypointLogBatch__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointLogBatch.js';
import { INLINE_KEEPALIVE_BYTES, isKeepalive, KEEPALIVE } from '../../src/protocol/keepalive.js';
import { grpc, protocol } from '../../src/protocol/load.js';
import { METADATA } from '../../src/protocol/metadata.js';

export interface FakeScript {
  /** The entrypoint protocol range advertised by GetVersionInfo (default 1..1). */
  entrypoint: { minimum: number; current: number };
  /** Advertised server features (default: inline keepalives). */
  features: string[];
  /** false: accept every call and never answer it (a hung server). */
  answer: boolean;
  /** invite token → entrypoint token; an unknown invite is UNAUTHENTICATED. */
  invites: Record<string, string>;
  /** Inline keepalives sent at the start of each config stream (to clients that ask). */
  keepalivesFirst: number;
  /** How long after opening a config stream the first config is sent. */
  configDelayMs: number;
  /** The config sent on each config stream; undefined: send nothing (headers only). */
  config?: EntrypointConfig;
  /** Refuse every registration with PERMISSION_DENIED (a token of another deployment). */
  denyRegistration?: boolean;
  /** How log streams are answered: accepted and recorded (default), or refused with a status. */
  logStream: 'accept' | { refuse: number; details?: string };
  /**
   * How exec streams are answered after their `open`: `opened: true` (default), `opened: false`,
   * never (silent), or refused with a status.
   */
  execStream: 'open' | 'deny' | 'silent' | { refuse: number; details?: string };
  /** Stop reading each exec stream right after answering its `open` (resumeOutput() goes on). */
  execPausedAfterOpen?: boolean;
}

/** One EntrypointExecStream as the fake saw it; the test drives its server side. */
export interface FakeExec {
  /** The index from `open` (undefined until it came). */
  index?: string;
  instanceId?: string;
  metadata: Record<string, string>;
  /** What the entrypoint sent, kind by kind, in order (output carries its channel). */
  events: Array<'open' | 'stdout' | 'stderr' | 'exit' | 'error' | 'keepalive' | 'other'>;
  stdout(): Buffer;
  stderr(): Buffer;
  /** Output bytes received so far, by channel (cheap to poll, unlike stdout()). */
  received: { stdout: number; stderr: number };
  /** The size of each output message, both channels, in order: how the output was chunked. */
  outputSizes: number[];
  exit?: number;
  error?: { code: number; message: string };
  /** The entrypoint ended its side. */
  clientEnded: boolean;
  /** The call is over (ended both ways, cancelled or broken). */
  closed: boolean;
  /** Sends input; false when the call's buffer is full (see inputAll). */
  input(data: Buffer | string): boolean;
  /** Sends `data` in pieces of `chunkBytes`, waiting for the call to drain whenever it is full. */
  inputAll(data: Buffer, chunkBytes?: number): Promise<void>;
  /** Input bytes handed to the call so far. */
  sent: number;
  /** Stops / resumes reading the entrypoint's messages: a slow operator. */
  pauseOutput(): void;
  resumeOutput(): void;
  inputEof(): void;
  /** Sends an inline keepalive on the stream. */
  keepalive(): void;
  winch(size: { rows: number; cols: number; width?: number; height?: number }): void;
  /** Cancels the call from the server's side (an operator gone, the broker dropping it). */
  cancel(): void;
}

/** One log line as the fake received it. */
export interface ReceivedLine {
  instanceId: string;
  /** ms since the epoch, with the nanos' sub-ms part as a fraction. */
  time: number;
  line: string;
  source: 'APP' | 'ENTRYPOINT';
  /** Date.now() when its batch arrived. */
  at: number;
}

export interface RecordedCall {
  method: string;
  /** Every metadata key with its first value. */
  metadata: Record<string, string>;
  request: unknown;
  /** Date.now() when the call arrived. */
  at: number;
}

export interface FakeWaypoint {
  readonly port: number;
  readonly addr: string;
  script: FakeScript;
  readonly calls: RecordedCall[];
  /** EntrypointConfig calls: the registrations. */
  registrations(): RecordedCall[];
  /** Config streams currently open, by instance id. */
  openInstances(): string[];
  /** Date.now() when a config was last sent. */
  lastConfigSentAt?: number;
  /** Date.now() when it last started listening. */
  startedAt: number;
  /** Sends a config to every open config stream now. */
  push(config: EntrypointConfig): void;
  sendKeepalive(): void;
  /** Every log line received, in order of arrival. */
  readonly lines: ReceivedLine[];
  /** Log batches received. */
  batches: number;
  /** Inline keepalives received on log streams. */
  logKeepalives: number;
  /** Log streams currently open. */
  openLogStreams(): number;
  /** Stops / resumes reading the open log streams: a server that falls behind, connected. */
  pauseLogStreams(): void;
  resumeLogStreams(): void;
  /** Every exec stream, in order of arrival. */
  readonly execs: FakeExec[];
  /** The exec stream whose `open` named `index`, if it came. */
  exec(index: number | string): FakeExec | undefined;
  /** Stops hard (streams cut); start() brings it back on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
}

export const DEFAULT_SCRIPT: FakeScript = {
  entrypoint: { minimum: 1, current: 1 },
  features: ['FEATURE_INLINE_KEEPALIVES'],
  answer: true,
  invites: {},
  keepalivesFirst: 0,
  configDelayMs: 0,
  config: { env_vars: [{ name: 'FROM_FAKE', static: 'yes' }] },
  logStream: 'accept',
  execStream: 'open',
};

export interface FakeOptions {
  port?: number;
  tls?: { cert: Buffer; key: Buffer };
  /** Services served beside Waypoint's (fake-tunnel-server.ts adds our Tunnel service). */
  services?: Array<{ definition: grpcTypes.ServiceDefinition; handlers: grpcTypes.UntypedServiceImplementation }>;
}

function metadataOf(md: grpcTypes.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(md.getMap())) out[key] = String(values);
  return out;
}

/** Waypoint's service, with a serializer that lets KEEPALIVE through as the raw keepalive bytes. */
function serviceDefinition(): grpcTypes.ServiceDefinition {
  const service = protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, grpcTypes.MethodDefinition<unknown, unknown>>;
  const withKeepalives = (method: grpcTypes.MethodDefinition<unknown, unknown>) => {
    const serialize = method.responseSerialize;
    return { ...method, responseSerialize: (m: unknown) => (m === KEEPALIVE ? INLINE_KEEPALIVE_BYTES : serialize(m)) };
  };
  return {
    ...service,
    EntrypointConfig: withKeepalives(service.EntrypointConfig),
    EntrypointExecStream: withKeepalives(service.EntrypointExecStream),
  } as grpcTypes.ServiceDefinition;
}

/** The server side of one exec stream: answers `open` as scripted, records the rest. */
function execStream(call: grpcTypes.ServerDuplexStream<unknown, unknown>, behaviour: FakeScript['execStream'], pauseAfterOpen: boolean): FakeExec {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const live = () => !exec.closed && !call.cancelled;
  const send = (message: object | typeof KEEPALIVE): boolean => (live() ? call.write(message) : false);
  const exec: FakeExec = {
    metadata: metadataOf(call.metadata),
    events: [],
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err),
    received: { stdout: 0, stderr: 0 },
    outputSizes: [],
    clientEnded: false,
    closed: false,
    sent: 0,
    input: (data) => {
      const bytes = Buffer.from(data);
      exec.sent += bytes.length;
      return send({ input: bytes });
    },
    async inputAll(data, chunkBytes = 64 * 1024) {
      for (let at = 0; at < data.length && live(); at += chunkBytes) {
        if (exec.input(data.subarray(at, at + chunkBytes))) continue;
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off('drain', done);
            call.off('close', done);
            resolve();
          };
          call.on('drain', done);
          call.on('close', done);
        });
      }
    },
    pauseOutput: () => call.pause(),
    resumeOutput: () => call.resume(),
    inputEof: () => void send({ input_eof: {} }),
    keepalive: () => void send(KEEPALIVE),
    winch: (size) => void send({ winch: { width: 0, height: 0, ...size } }),
    cancel: () => {
      if (!live()) return;
      exec.closed = true;
      call.emit('error', { code: grpc.status.CANCELLED, details: 'cancelled by the fake' });
    },
  };
  call.on('data', (message: unknown) => {
    if (isKeepalive(message)) return void exec.events.push('keepalive');
    const m = message as EntrypointExecRequest__Output;
    switch (m.event) {
      case 'open':
        exec.events.push('open');
        exec.index = m.open!.index;
        exec.instanceId = m.open!.instance_id;
        if (behaviour === 'open') send({ opened: true });
        if (pauseAfterOpen) call.pause();
        else if (behaviour === 'deny') send({ opened: false });
        else if (typeof behaviour === 'object') {
          exec.closed = true;
          call.emit('error', { code: behaviour.refuse, details: behaviour.details ?? 'refused by the fake' });
        }
        return;
      case 'output': {
        const channel = m.output!.channel === 'STDERR' ? 'stderr' : 'stdout';
        if (exec.events.at(-1) !== channel) exec.events.push(channel); // a run of output is one event
        (channel === 'stderr' ? err : out).push(m.output!.data);
        exec.received[channel] += m.output!.data.length;
        exec.outputSizes.push(m.output!.data.length);
        return;
      }
      case 'exit':
        exec.events.push('exit');
        exec.exit = m.exit!.code;
        return;
      case 'error':
        exec.events.push('error');
        exec.error = { code: m.error!.error?.code ?? 0, message: m.error!.error?.message ?? '' };
        return;
      default:
        exec.events.push('other');
    }
  });
  call.on('end', () => {
    exec.clientEnded = true;
    if (live()) call.end();
    exec.closed = true;
  });
  call.on('error', () => (exec.closed = true));
  call.on('cancelled', () => (exec.closed = true));
  return exec;
}

export async function startFake(script: Partial<FakeScript> = {}, options: FakeOptions = {}): Promise<FakeWaypoint> {
  const calls: RecordedCall[] = [];
  const logStreams = new Set<grpcTypes.ServerReadableStream<unknown, unknown>>();
  const streams = new Map<grpcTypes.ServerWritableStream<unknown, unknown>, string>();
  let server: grpcTypes.Server | undefined;
  let port = options.port ?? 0;
  /** Calls never answered (answer: false), ended at stop so the server can shut down. */
  const hung: Array<() => void> = [];

  const fake: FakeWaypoint = {
    get port() {
      return port;
    },
    get addr() {
      return `127.0.0.1:${port}`;
    },
    script: { ...DEFAULT_SCRIPT, ...script },
    calls,
    startedAt: 0,
    lines: [],
    batches: 0,
    logKeepalives: 0,
    openLogStreams: () => logStreams.size,
    pauseLogStreams: () => logStreams.forEach((c) => c.pause()),
    resumeLogStreams: () => logStreams.forEach((c) => c.resume()),
    execs: [],
    exec: (index) => fake.execs.find((e) => e.index === String(index)),
    registrations: () => calls.filter((c) => c.method === 'EntrypointConfig'),
    openInstances: () => [...streams.values()],
    push(config) {
      for (const stream of streams.keys()) stream.write({ config });
      fake.lastConfigSentAt = Date.now();
    },
    sendKeepalive() {
      for (const stream of streams.keys()) stream.write(KEEPALIVE);
    },
    stop: async () => {
      for (const end of hung.splice(0)) end();
      streams.clear();
      logStreams.clear();
      server?.forceShutdown();
      server = undefined;
    },
    start: async () => {
      server = new grpc.Server();
      server.addService(serviceDefinition(), handlers);
      for (const { definition, handlers: more } of options.services ?? []) server.addService(definition, more);
      const creds = options.tls
        ? grpc.ServerCredentials.createSsl(null, [{ private_key: options.tls.key, cert_chain: options.tls.cert }], false)
        : grpc.ServerCredentials.createInsecure();
      port = await new Promise<number>((resolve, reject) =>
        server!.bindAsync(`127.0.0.1:${port}`, creds, (err, p) => (err ? reject(err) : resolve(p))),
      );
      fake.startedAt = Date.now();
    },
  };

  function record(method: string, call: { metadata: grpcTypes.Metadata; request?: unknown }): boolean {
    calls.push({ method, metadata: metadataOf(call.metadata), request: call.request, at: Date.now() });
    return fake.script.answer;
  }

  function authorized(md: grpcTypes.Metadata): boolean {
    const token = md.get(METADATA.authorization)[0];
    return typeof token === 'string' && Object.values(fake.script.invites).includes(token);
  }

  const handlers: grpcTypes.UntypedServiceImplementation = {
    GetVersionInfo(call: grpcTypes.ServerUnaryCall<unknown, unknown>, cb: grpcTypes.sendUnaryData<unknown>) {
      if (!record('GetVersionInfo', call)) return void hung.push(() => cb({ code: grpc.status.UNAVAILABLE }));
      cb(null, {
        info: { api: { minimum: 1, current: 1 }, entrypoint: fake.script.entrypoint, version: 'fake-0.0.1' },
        server_features: { features: fake.script.features },
      });
    },
    ConvertInviteToken(call: grpcTypes.ServerUnaryCall<{ token: string }, unknown>, cb: grpcTypes.sendUnaryData<unknown>) {
      if (!record('ConvertInviteToken', call)) return void hung.push(() => cb({ code: grpc.status.UNAVAILABLE }));
      const token = fake.script.invites[call.request.token];
      if (!token) return cb({ code: grpc.status.UNAUTHENTICATED, details: 'unknown invite token' });
      cb(null, { token });
    },
    EntrypointConfig(call: grpcTypes.ServerWritableStream<{ instance_id: string }, unknown>) {
      if (!record('EntrypointConfig', call)) return void hung.push(() => call.end());
      if (!authorized(call.metadata)) {
        call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'no valid token' });
        return;
      }
      if (fake.script.denyRegistration) {
        call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'not your deployment' });
        return;
      }
      streams.set(call, call.request.instance_id);
      call.on('cancelled', () => streams.delete(call));
      call.on('close', () => streams.delete(call));
      const wantsKeepalives = call.metadata.get(METADATA.inlineKeepalives)[0] === 'true';
      call.sendMetadata(new grpc.Metadata());
      if (wantsKeepalives) for (let i = 0; i < fake.script.keepalivesFirst; i++) call.write(KEEPALIVE);
      const config = fake.script.config;
      if (config) {
        setTimeout(() => {
          if (!streams.has(call)) return;
          call.write({ config });
          fake.lastConfigSentAt = Date.now();
        }, fake.script.configDelayMs);
      }
    },
    EntrypointLogStream(call: grpcTypes.ServerReadableStream<unknown, unknown>, cb: grpcTypes.sendUnaryData<unknown>) {
      record('EntrypointLogStream', call);
      const behaviour = fake.script.logStream;
      if (behaviour !== 'accept') return cb({ code: behaviour.refuse, details: behaviour.details ?? 'refused by the fake' });
      logStreams.add(call);
      call.on('data', (message: unknown) => {
        if (isKeepalive(message)) {
          fake.logKeepalives++;
          return;
        }
        const batch = message as EntrypointLogBatch__Output;
        fake.batches++;
        const at = Date.now();
        for (const entry of batch.lines) {
          const ts = entry.timestamp;
          fake.lines.push({
            instanceId: batch.instance_id,
            time: ts ? Number(ts.seconds) * 1000 + ts.nanos / 1e6 : 0,
            line: entry.line,
            source: entry.source as 'APP' | 'ENTRYPOINT',
            at,
          });
        }
      });
      call.on('error', () => logStreams.delete(call));
      call.on('cancelled', () => logStreams.delete(call));
      call.on('end', () => {
        logStreams.delete(call);
        cb(null, {});
      });
    },
    EntrypointExecStream(call: grpcTypes.ServerDuplexStream<unknown, unknown>) {
      record('EntrypointExecStream', call);
      fake.execs.push(execStream(call, fake.script.execStream, fake.script.execPausedAfterOpen ?? false));
    },
  };

  await fake.start();
  return fake;
}
