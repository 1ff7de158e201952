// A scripted server for the entrypoint's URL service: the fake Waypoint (fake-waypoint.ts) for
// the session (version, invite exchange, a config stream whose configs are pushed at will, log
// streams), and beside it our Tunnel service, driven by the test: it records each Register, asks
// for connections on it (`open`) and hands each Connect stream to the test as a raw byte pipe.
import type * as grpcTypes from '@grpc/grpc-js';
import type { EntrypointConfig } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { ConnectRequest__Output } from '../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectRequest.js';
import type { RegisterRequest__Output } from '../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterRequest.js';
import { grpc, protocol } from '../../src/protocol/load.js';
import { METADATA } from '../../src/protocol/metadata.js';
import { startFake } from './fake-waypoint.js';
import { waitFor, withDeadline } from './run.js';

export interface TunnelServerOptions {
  /** invite token → entrypoint token. */
  invites: Record<string, string>;
  /** The config each new config stream starts with. */
  config: EntrypointConfig;
  /** The URLs Register answers with. */
  urls?: string[];
  /** Serve Waypoint's service only, as Waypoint's own server does (Register is UNIMPLEMENTED). */
  withoutTunnel?: boolean;
  port?: number;
}

export interface Registration {
  request: RegisterRequest__Output;
  /** The entrypoint token the call carried (authorization). */
  token: string;
  at: number;
  /** The entrypoint cancelled it. */
  cancelled: boolean;
  /** Still open. */
  open: boolean;
  call: grpcTypes.ServerWritableStream<RegisterRequest__Output, unknown>;
}

/** One Connect stream, from the server's side. */
export interface TunnelConnection {
  readonly connectionId: string;
  readonly instanceId: string;
  /** Every message after accept, in order. */
  readonly messages: ConnectRequest__Output[];
  /** The app's bytes so far. */
  received(): Buffer;
  connected(): boolean;
  /** The entrypoint sent eof (the app closed its side). */
  eof(): boolean;
  failed(): { message: string; before_connect: boolean } | undefined;
  /** The entrypoint half-closed the stream. */
  ended(): boolean;
  /** Sends bytes for the app, in pieces, waiting whenever the stream's buffer is full. */
  send(data: Buffer): Promise<void>;
  /** A send() is waiting for the stream to drain (the entrypoint reads no more for now). */
  waitingForDrain(): boolean;
  /** Bytes handed to the stream so far. */
  bytesSent(): number;
  sendEof(): void;
  /** Ends the call (status OK). */
  close(): void;
  waitFor(what: string, condition: () => boolean, timeoutMs?: number): Promise<void>;
}

export interface FakeTunnelServer {
  readonly addr: string;
  readonly port: number;
  readonly registrations: Registration[];
  /** The instance id of each config stream (each session), in order. */
  readonly instanceIds: string[];
  /** Sends a config to every open config stream, and makes it the one new streams start with. */
  push(config: EntrypointConfig): void;
  /** The open registration (the last one); fails when there is none. */
  live(): Registration;
  /** Asks the live registration for a connection and resolves with its Connect stream. */
  open(timeoutMs?: number): Promise<TunnelConnection>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const CHUNK = 64 * 1024;

export async function startTunnelServer(options: TunnelServerOptions): Promise<FakeTunnelServer> {
  let nextConnection = 1;
  const registrations: Registration[] = [];
  const waiting = new Map<string, (c: TunnelConnection) => void>();
  const tokens = new Set(Object.values(options.invites));

  const tokenOf = (md: grpcTypes.Metadata) => String(md.get(METADATA.authorization)[0] ?? '');

  const tunnel: grpcTypes.UntypedServiceImplementation = {
    Register(call: grpcTypes.ServerWritableStream<RegisterRequest__Output, unknown>) {
      const token = tokenOf(call.metadata);
      if (!tokens.has(token)) return void call.emit('error', { code: grpc.status.UNAUTHENTICATED, details: 'no valid token' });
      const registration: Registration = { request: call.request, token, at: Date.now(), cancelled: false, open: true, call };
      registrations.push(registration);
      call.on('cancelled', () => {
        registration.cancelled = true;
        registration.open = false;
      });
      call.write({ registered: { urls: options.urls ?? [] } });
    },
    Connect(call: grpcTypes.ServerDuplexStream<ConnectRequest__Output, unknown>) {
      let connection: ReturnType<typeof makeConnection> | undefined;
      call.on('data', (message: ConnectRequest__Output) => {
        if (!connection) {
          if (message.event !== 'accept' || !message.accept) {
            call.emit('error', { code: grpc.status.INVALID_ARGUMENT, details: 'accept must come first' });
            return;
          }
          connection = makeConnection(call, message.accept.connection_id, message.accept.instance_id);
          waiting.get(connection.connectionId)?.(connection);
          waiting.delete(connection.connectionId);
          return;
        }
        connection.receive(message);
      });
      call.on('end', () => connection?.halfClosed());
      call.on('error', () => {});
    },
  };

  function makeConnection(call: grpcTypes.ServerDuplexStream<ConnectRequest__Output, unknown>, connectionId: string, instanceId: string) {
    const messages: ConnectRequest__Output[] = [];
    const chunks: Buffer[] = [];
    let ended = false;
    let over = false;
    let draining = false;
    let sent = 0;
    const connection = {
      connectionId,
      instanceId,
      messages,
      received: () => Buffer.concat(chunks),
      connected: () => messages.some((m) => m.event === 'connected'),
      eof: () => messages.some((m) => m.event === 'eof'),
      failed: () => {
        const f = messages.find((m) => m.event === 'failed')?.failed;
        return f ? { message: f.message, before_connect: f.before_connect } : undefined;
      },
      ended: () => ended,
      async send(data: Buffer) {
        for (let at = 0; at < data.length; at += CHUNK) {
          const piece = data.subarray(at, at + CHUNK);
          sent += piece.length;
          if (!call.write({ data: piece })) {
            draining = true;
            await withDeadline(new Promise((resolve) => call.once('drain', resolve)), 20_000, 'the Connect stream to drain');
            draining = false;
          }
        }
      },
      waitingForDrain: () => draining,
      bytesSent: () => sent,
      sendEof: () => call.write({ eof: {} }),
      close: () => {
        if (over) return;
        over = true;
        call.end();
      },
      waitFor: (what: string, condition: () => boolean, timeoutMs = 10_000) =>
        waitFor(condition, {
          timeoutMs,
          what: () => `${what} (connection ${connectionId}: ${messages.map((m) => m.event).join(',')}; ${chunks.length} data chunks)`,
        }),
      receive(message: ConnectRequest__Output) {
        messages.push(message);
        if (message.event === 'data' && message.data) chunks.push(Buffer.from(message.data));
      },
      halfClosed() {
        ended = true;
        // Both sides done: the server ends the call, as the real one does.
        connection.close();
      },
    };
    return connection;
  }

  const wp = await startFake(
    // No server features, and exec unimplemented: the URL service is all that is tested here.
    { invites: options.invites, config: options.config, features: [], execStream: { refuse: grpc.status.UNIMPLEMENTED } },
    {
      port: options.port,
      services: options.withoutTunnel ? [] : [{ definition: protocol().waypoint_entrypoint.tunnel.v1.Tunnel.service, handlers: tunnel }],
    },
  );
  const fake: FakeTunnelServer = {
    get addr() {
      return wp.addr;
    },
    get port() {
      return wp.port;
    },
    registrations,
    get instanceIds() {
      return wp
        .registrations()
        .filter((call) => tokens.has(call.metadata[METADATA.authorization] ?? ''))
        .map((call) => (call.request as { instance_id: string }).instance_id);
    },
    push(next) {
      wp.script.config = next; // new streams start with it too
      wp.push(next);
    },
    live() {
      const open = registrations.filter((r) => r.open);
      if (open.length === 0) throw new Error('no open registration');
      return open[open.length - 1];
    },
    async open(timeoutMs = 10_000) {
      const connectionId = `c${nextConnection++}`;
      const accepted = new Promise<TunnelConnection>((resolve) => waiting.set(connectionId, resolve));
      fake.live().call.write({ open: { connection_id: connectionId } });
      return withDeadline(accepted, timeoutMs, `the entrypoint to accept connection ${connectionId}`);
    },
    stop: async () => {
      for (const r of registrations) r.open = false;
      await wp.stop();
    },
    start: () => wp.start(),
  };
  return fake;
}
