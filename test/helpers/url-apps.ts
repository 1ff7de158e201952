// What the URL service's tests (test/integration/server/ingress/ and tunnel/) share: the local
// apps their tunnels reach (on 127.0.0.1, closed after each test with every connection they
// accepted), a gate that holds requests until released, a request to the ingress by Host, and
// an instance whose tunnel reaches an app.
import http from 'node:http';
import type { AddressInfo, Server, Socket } from 'node:net';
import { closeTunnelClients, type FakeEndpoint, serveTunnel, tunnelClient } from './fake-tunnel-endpoint.js';
import { killAll, withDeadline } from './run.js';
import { type FakeInstance, stopServers, type TestServer } from './server.js';

const servers = new Set<Server>();
/** Every connection the apps accepted, upgraded ones included (closeAllConnections misses those). */
const sockets = new Set<Socket>();

/** Listens on a free port of 127.0.0.1, for closeApps to close; returns the port. */
export async function listenApp(server: Server): Promise<number> {
  server.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.add(server);
  return (server.address() as AddressInfo).port;
}

/** For afterEach: every app's connections cut, every app closed. */
export async function closeApps(): Promise<void> {
  for (const s of sockets) s.destroy();
  sockets.clear();
  await Promise.all([...servers].map((s) => new Promise((r) => s.close(r))));
  servers.clear();
}

/** For afterEach (afterAll): the tunnels, the entrypoints, the servers, then the apps. */
export async function cleanUpUrlTest(): Promise<void> {
  closeTunnelClients();
  killAll();
  await stopServers();
  await closeApps();
}

export interface Gate {
  /** Resolves once released. */
  passed(): Promise<void>;
  /** Lets every waiting request through; later ones wait for the next release. */
  release(): void;
}

export function gate(): Gate {
  let open!: () => void;
  let opened = new Promise<void>((r) => (open = r));
  return {
    passed: () => opened,
    release: () => {
      open();
      opened = new Promise<void>((r) => (open = r));
    },
  };
}

export interface IngressAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface IngressRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
}

/** One request to the server's ingress with the given Host, on a connection of its own; the whole answer. */
export function ingressRequest(server: TestServer, host: string, opts: IngressRequest = {}): Promise<IngressAnswer> {
  const method = opts.method ?? 'GET';
  const path = opts.path ?? '/hello';
  return withDeadline(
    new Promise<IngressAnswer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.httpPort, method, path, agent: false, headers: { ...opts.headers, Host: host } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(opts.body);
    }),
    20_000,
    `${method} ${host}${path}`,
  );
}

/** The ingress's Host for an app (or `app--deployment`) label. */
export function hostOf(server: TestServer, label: string): string {
  return `${label}.localhost:${server.httpPort}`;
}

/** A new deployment of `app` (or another instance of `of`'s) whose tunnel reaches `appPort`. */
export async function instanceWithTunnel(server: TestServer, app: string, appPort: number, of?: FakeInstance): Promise<FakeEndpoint> {
  const instance = await server.connectInstance(app, of ? { deploymentId: of.deploymentId, token: of.token } : {});
  return serveTunnel(tunnelClient(server.addr), instance, appPort);
}
