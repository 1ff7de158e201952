// A scriptable stand-in for a Waypoint server, on grpc-js and our own service definitions: it
// lets the entrypoint's client side be tested against behaviours the real server never shows
// (a newer protocol, silence, inline keepalives on demand, configs pushed at will, a log stream
// refused) and records what it was sent, log lines included. This file is the script, the
// registration and the config streams; the log streams are fake-waypoint-logs.ts's, the exec
// streams fake-waypoint-exec.ts's.
import type * as grpcTypes from '@grpc/grpc-js';
import type { EntrypointConfig } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import { INLINE_KEEPALIVE_BYTES, KEEPALIVE } from '../../src/protocol/keepalive.js';
import { grpc, protocol } from '../../src/protocol/load.js';
import { METADATA } from '../../src/protocol/metadata.js';
import { execStream, type FakeExec, metadataOf } from './fake-waypoint-exec.js';
import { logStream, type ReceivedLine } from './fake-waypoint-logs.js';

export type { FakeExec } from './fake-waypoint-exec.js';
export type { ReceivedLine } from './fake-waypoint-logs.js';

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
      logStream(call, cb, fake.script.logStream, fake, logStreams);
    },
    EntrypointExecStream(call: grpcTypes.ServerDuplexStream<unknown, unknown>) {
      record('EntrypointExecStream', call);
      fake.execs.push(execStream(call, fake.script.execStream, fake.script.execPausedAfterOpen ?? false));
    },
  };

  await fake.start();
  return fake;
}
