// A hostile Waypoint server for fault-isolation and fuzz tests: Waypoint's service and our Tunnel
// service, where every stream is handed to the test to say anything on it. Each response may be
// a message object (encoded as the protocol says) or a Buffer sent as it is: a malformed message
// on any stream. It answers the version check and the invite exchange as a real server would,
// and counts the registrations, so a test can see the entrypoint reconnect.
import type * as grpcTypes from '@grpc/grpc-js';
import { grpc, protocol } from '../../src/protocol/load.js';

export type Reply = object | Buffer;
type Duplex = grpcTypes.ServerDuplexStream<unknown, Reply>;
type Writable = grpcTypes.ServerWritableStream<unknown, Reply>;
type Readable = grpcTypes.ServerReadableStream<unknown, Reply>;

export interface HostileScript {
  /** Each new config stream; by default the stream gets `configs`, in order. */
  config(call: Writable): void;
  configs: Reply[];
  /** Each log stream; by default drained and answered when the entrypoint ends it. */
  logs(call: Readable, answer: grpcTypes.sendUnaryData<Reply>): void;
  /** Each exec stream; by default `opened` after `open`, then nothing. */
  exec(call: Duplex): void;
  /** Each Register; by default `registered`, then nothing. */
  register(call: Writable): void;
  /** Each Connect; by default nothing (the call stays open). */
  connect(call: Duplex): void;
}

export interface HostileServer {
  readonly addr: string;
  script: HostileScript;
  /** EntrypointConfig calls so far: one per session. */
  registrations(): number;
  /** Open config streams. */
  readonly configStreams: Set<Writable>;
  /** Sends a message (or raw bytes) on every open config stream. */
  push(reply: Reply): void;
  stop(): Promise<void>;
}

/** The service with each response serializer letting a Buffer through unencoded. */
function rawReplies(service: Record<string, grpcTypes.MethodDefinition<unknown, unknown>>): grpcTypes.ServiceDefinition {
  const out: Record<string, grpcTypes.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(service)) {
    const serialize = method.responseSerialize;
    out[name] = { ...method, responseSerialize: (m: unknown) => (Buffer.isBuffer(m) ? m : serialize(m)) };
  }
  return out as grpcTypes.ServiceDefinition;
}

export const DEFAULT_HOSTILE: HostileScript = {
  config: () => {},
  configs: [],
  logs: (call, answer) => {
    call.on('data', () => {});
    call.on('error', () => {});
    call.on('end', () => answer(null, {}));
  },
  exec: (call) => {
    call.on('error', () => {});
    call.on('data', (m: { event?: string }) => {
      if (m.event === 'open') call.write({ opened: true });
    });
  },
  register: (call) => {
    call.on('error', () => {});
    call.write({ registered: { urls: ['http://hostile.test'] } });
  },
  connect: (call) => {
    call.on('error', () => {});
    call.on('data', () => {});
  },
};

export async function startHostile(script: Partial<HostileScript> = {}): Promise<HostileServer> {
  const p = protocol();
  const server = new grpc.Server();
  const configStreams = new Set<Writable>();
  let registrations = 0;
  const hostile: HostileServer = {
    addr: '',
    script: { ...DEFAULT_HOSTILE, ...script },
    registrations: () => registrations,
    configStreams,
    push(reply) {
      for (const call of configStreams) call.write(reply);
    },
    stop: async () => {
      configStreams.clear();
      server.forceShutdown();
    },
  };
  const waypoint: grpcTypes.UntypedServiceImplementation = {
    GetVersionInfo: (_call: unknown, cb: grpcTypes.sendUnaryData<Reply>) =>
      cb(null, { info: { api: { minimum: 1, current: 1 }, entrypoint: { minimum: 1, current: 1 }, version: 'hostile' }, server_features: { features: [] } }),
    ConvertInviteToken: (_call: unknown, cb: grpcTypes.sendUnaryData<Reply>) => cb(null, { token: 'hostile-token' }),
    EntrypointConfig(call: Writable) {
      registrations++;
      configStreams.add(call);
      const forget = () => configStreams.delete(call);
      call.on('cancelled', forget);
      call.on('close', forget);
      call.on('error', forget);
      call.sendMetadata(new grpc.Metadata());
      for (const reply of hostile.script.configs) call.write(reply);
      hostile.script.config(call);
    },
    EntrypointLogStream: (call: Readable, cb: grpcTypes.sendUnaryData<Reply>) => hostile.script.logs(call, cb),
    EntrypointExecStream: (call: Duplex) => hostile.script.exec(call),
  };
  const tunnel: grpcTypes.UntypedServiceImplementation = {
    Register: (call: Writable) => hostile.script.register(call),
    Connect: (call: Duplex) => hostile.script.connect(call),
  };
  const service = (s: unknown) => rawReplies(s as Record<string, grpcTypes.MethodDefinition<unknown, unknown>>);
  server.addService(service(p.hashicorp.waypoint.Waypoint.service), waypoint);
  server.addService(service(p.waypoint_entrypoint.tunnel.v1.Tunnel.service), tunnel);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  Object.defineProperty(hostile, 'addr', { value: `127.0.0.1:${port}` });
  return hostile;
}
