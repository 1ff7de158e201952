// A scripted entrypoint for the server's URL service: a raw gRPC client that registers an
// instance (ConvertInviteToken + EntrypointConfig, see server.ts connectInstance), reads the
// url_service of its config, calls Register, and on each `open` opens Connect and bridges it to
// a TCP connection to a local app (127.0.0.1:appPort) as the entrypoint would: `connected` or
// `failed{before_connect}`, bytes both ways, `eof` for each half close.
import net from 'node:net';
import type { TunnelClient } from '../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/Tunnel.js';
import type { ConnectResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectResponse.js';
import type { RegisterResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterResponse.js';
import { protocol } from '../../src/protocol/load.js';
import { credentials, type grpc, md, recordStream, type StreamRecord } from './grpc.js';
import { waitFor } from './run.js';
import type { FakeInstance } from './server.js';

const clients = new Set<grpc.Client>();

export function tunnelClient(addr: string): TunnelClient {
  const client = new (protocol().waypoint_entrypoint.tunnel.v1.Tunnel)(addr, credentials()) as TunnelClient;
  clients.add(client);
  return client;
}

/** For afterEach: closes every tunnel client (and so every stream on them). */
export function closeTunnelClients(): void {
  for (const c of clients) c.close();
  clients.clear();
}

/** The URL token the instance's first config carried (empty when there was none). */
export function urlTokenOf(instance: FakeInstance): string {
  return instance.config.messages[0]?.config?.url_service?.token ?? '';
}

export interface RegisterStream extends StreamRecord<RegisterResponse__Output> {
  /** The `registered` URLs; fails with the stream's error if it ended first. */
  registered(): Promise<string[]>;
}

export interface RegisterOptions {
  instanceId?: string;
  /** The entrypoint token of the call (default the instance's). */
  token?: string;
  /** The URL token (default the one of the instance's config). */
  urlToken?: string;
  port?: number;
}

/** Calls Register and records what comes back; `onOpen` gets each connection id asked for. */
export function register(
  client: TunnelClient,
  instance: FakeInstance,
  opts: RegisterOptions = {},
  onOpen: (connectionId: string) => void = () => undefined,
): RegisterStream {
  const call = client.Register(
    { instance_id: opts.instanceId ?? instance.id, token: opts.urlToken ?? urlTokenOf(instance), port: opts.port ?? 0 },
    md({ token: opts.token ?? instance.token }),
  );
  const record = recordStream<RegisterResponse__Output>(call, 'Register', (m) => {
    if (m.event === 'open') onOpen(m.open!.connection_id);
  });
  const s: RegisterStream = Object.assign(record, {
    async registered() {
      await waitFor(() => s.messages.length > 0 || s.ended, { what: () => 'the Register stream to answer' });
      const first = s.messages[0];
      if (first?.event !== 'registered') throw new Error(`Register ended without registering: ${s.error?.details ?? 'no message'}`);
      return first.registered!.urls;
    },
  });
  return s;
}

export interface FakeEndpoint {
  instance: FakeInstance;
  stream: RegisterStream;
  /** Connections asked for so far. */
  opened: number;
  /** Connections that reached the app. */
  connected: number;
  /** Connect streams still open. */
  active: number;
  /** Where its connections go now (a test may point it at a dead port). */
  appPort: number;
}

/** Registers the instance's tunnel and bridges every connection asked of it to 127.0.0.1:appPort. */
export async function serveTunnel(client: TunnelClient, instance: FakeInstance, appPort: number): Promise<FakeEndpoint> {
  const endpoint: FakeEndpoint = { instance, stream: undefined as unknown as RegisterStream, opened: 0, connected: 0, active: 0, appPort };
  endpoint.stream = register(client, instance, { port: appPort }, (connectionId) => {
    endpoint.opened++;
    bridge(client, instance, connectionId, endpoint);
  });
  await endpoint.stream.registered();
  return endpoint;
}

/** One connection: a Connect stream carried to and from a TCP connection to the app. */
function bridge(client: TunnelClient, instance: FakeInstance, connectionId: string, endpoint: FakeEndpoint): void {
  const call = client.Connect(md({ token: instance.token }));
  endpoint.active++;
  let callOver = false;
  let connected = false;
  let appDone = false;
  let serverDone = false;
  const finish = () => {
    if (!callOver) call.end();
  };
  call.on('error', () => undefined);
  call.on('status', () => {
    callOver = true;
    endpoint.active--;
    socket.destroy();
  });
  call.write({ accept: { instance_id: instance.id, connection_id: connectionId } });
  const socket = net.connect({ host: '127.0.0.1', port: endpoint.appPort, allowHalfOpen: true });
  socket.on('connect', () => {
    connected = true;
    endpoint.connected++;
    call.write({ connected: {} });
  });
  socket.on('data', (chunk: Buffer) => {
    if (!call.write({ data: chunk })) {
      socket.pause();
      call.once('drain', () => socket.resume());
    }
  });
  socket.on('end', () => {
    appDone = true;
    call.write({ eof: {} });
    if (serverDone) finish();
  });
  socket.on('error', (err) => {
    if (callOver) return;
    call.write({ failed: { message: err.message, before_connect: !connected } });
    finish();
  });
  call.on('data', (m: ConnectResponse__Output) => {
    if (m.event === 'data') {
      if (!socket.write(m.data!)) {
        call.pause();
        socket.once('drain', () => call.resume());
      }
    } else if (m.event === 'eof') {
      serverDone = true;
      socket.end();
      if (appDone) finish();
    }
  });
}
