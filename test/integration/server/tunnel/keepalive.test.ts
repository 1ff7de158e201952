// Kept-alive tunnel connections of the real server's URL ingress (src/server/tunnel/pool.ts),
// driven by scripted entrypoints (test/helpers/fake-tunnel-endpoint.ts): one Connect stream (one
// TCP connection to the app) carries request after request; connections the app, the client,
// the idle timeout or the instance's departure end are never used again; the keep-alive race is
// retried; the limit counts requests, not connections.
import http from 'node:http';
import net, { type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeEndpoint, serveTunnel, tunnelClient } from '../../../helpers/fake-tunnel-endpoint.js';
import { waitFor } from '../../../helpers/run.js';
import { startServer, type TestServer } from '../../../helpers/server.js';
import { cleanUpUrlTest, gate, hostOf, ingressRequest, type IngressRequest, instanceWithTunnel, listenApp } from '../../../helpers/url-apps.js';

afterEach(cleanUpUrlTest);

interface App {
  port: number;
  /** TCP connections it accepted, and those still open. */
  connections: number;
  open: Set<Socket>;
  requests: string[];
  /** Lets the held requests (/hold) finish. */
  release(): void;
  abandoned: number;
}

async function listen(server: net.Server, app: App): Promise<App> {
  server.on('connection', (s: Socket) => {
    app.connections++;
    app.open.add(s);
    s.once('close', () => app.open.delete(s));
  });
  app.port = await listenApp(server);
  return app;
}

function newApp(): App {
  return { port: 0, connections: 0, open: new Set(), requests: [], release: () => undefined, abandoned: 0 };
}

/** A Node HTTP app (keep-alive as Node does it): /hello, /echo, /hold. */
async function startApp(): Promise<App> {
  const app = newApp();
  const held = gate();
  app.release = held.release;
  const server = http.createServer((req, res) => {
    app.requests.push(`${req.method} ${req.url}`);
    if (req.url === '/echo') return void req.pipe(res);
    // Sends its response head before it read the body, and ends the response once it has.
    if (req.url === '/early') {
      res.writeHead(200);
      res.write('early');
      req.resume();
      return void req.on('end', () => res.end('\n'));
    }
    if (req.url === '/hold') {
      res.on('close', () => {
        if (!res.writableFinished) app.abandoned++;
      });
      return void held.passed().then(() => res.end('held\n'));
    }
    res.end('hello\n');
  });
  return listen(server, app);
}

/**
 * A raw HTTP app that answers the first request of each connection (keep-alive) and closes the
 * connection on the second without answering: the app closing an idle connection just as the
 * next request arrives on it.
 */
async function startRacyApp(): Promise<App> {
  const app = newApp();
  const server = net.createServer((s) => {
    let served = 0;
    let buffered = '';
    s.on('error', () => undefined);
    s.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const end = buffered.indexOf('\r\n\r\n');
      if (end < 0) return;
      app.requests.push(buffered.slice(0, buffered.indexOf('\r\n')));
      buffered = '';
      if (served++ > 0) return void s.destroy();
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: keep-alive\r\n\r\nhello\n');
    });
  });
  return listen(server, app);
}

interface Answer {
  status: number;
  body: string;
}

/** A request to the app `web` through the ingress: its status, and its body as text. */
async function request(server: TestServer, opts: IngressRequest = {}): Promise<Answer> {
  const { status, body } = await ingressRequest(server, hostOf(server, 'web'), opts);
  return { status, body: body.toString() };
}

async function setUp(app: App, args: string[] = []): Promise<{ server: TestServer; endpoint: FakeEndpoint }> {
  const server = await startServer({ args });
  const endpoint = await instanceWithTunnel(server, 'web', app.port);
  return { server, endpoint };
}

describe('URL service: kept-alive tunnel connections', () => {
  it('carries sequential requests on one tunnel connection, one TCP connection to the app', async () => {
    const app = await startApp();
    const { server, endpoint } = await setUp(app);
    for (let i = 0; i < 5; i++) expect(await request(server)).toEqual({ status: 200, body: 'hello\n' });
    expect(await request(server, { method: 'POST', path: '/echo', body: 'abc' })).toEqual({ status: 200, body: 'abc' });
    expect(endpoint.opened).toBe(1);
    expect(app.connections).toBe(1);
    expect(app.requests).toHaveLength(6);
  });

  it('drops an idle connection the app closed: the next request, a POST, gets a new one', async () => {
    const app = await startApp();
    const { server, endpoint } = await setUp(app);
    expect((await request(server)).status).toBe(200);
    for (const s of app.open) s.destroy();
    // At once, not after the 4 s idle timeout.
    await waitFor(() => endpoint.active === 0, { what: () => 'the server to drop the idle tunnel connection', timeoutMs: 2_000 });
    // Not retried if it failed (it has a body): it must go on a live connection.
    expect(await request(server, { method: 'POST', path: '/echo', body: 'fresh' })).toEqual({ status: 200, body: 'fresh' });
    expect(endpoint.opened).toBe(2);
  });

  it('retries a GET that met the keep-alive race, on the same instance; not a POST', async () => {
    const app = await startRacyApp();
    const { server, endpoint } = await setUp(app);
    expect(await request(server)).toEqual({ status: 200, body: 'hello\n' });
    expect(await request(server)).toEqual({ status: 200, body: 'hello\n' }); // closed on its reuse, then a new connection
    expect(app.requests).toEqual(['GET /hello HTTP/1.1', 'GET /hello HTTP/1.1', 'GET /hello HTTP/1.1']);
    expect(endpoint.opened).toBe(2);

    const post = await request(server, { method: 'POST', path: '/form', body: 'x=1' });
    expect(post.status).toBe(502);
    expect(post.body).toMatch(/^app web is not answering: /);
    expect(app.requests.filter((r) => r.startsWith('POST'))).toHaveLength(1); // never sent twice
  });

  it('C1: never reuses a connection whose app answered before it had the whole body', async () => {
    const app = await startApp();
    const { server, endpoint } = await setUp(app);
    expect(await request(server, { method: 'POST', path: '/early', body: 'x'.repeat(8 * 1024 * 1024) })).toEqual({ status: 200, body: 'early\n' });
    expect(await request(server)).toEqual({ status: 200, body: 'hello\n' });
    expect(endpoint.opened).toBe(2);
    // A body sent whole before the answer leaves the connection fit for the next request.
    expect(await request(server, { method: 'POST', path: '/echo', body: 'abc' })).toEqual({ status: 200, body: 'abc' });
    expect(await request(server)).toEqual({ status: 200, body: 'hello\n' });
    expect(endpoint.opened).toBe(2);
  });

  it('never reuses the connection of a request whose client went away', async () => {
    const app = await startApp();
    const { server, endpoint } = await setUp(app);
    expect((await request(server)).status).toBe(200);
    const held = http.get({ host: '127.0.0.1', port: server.httpPort, path: '/hold', headers: { Host: `web.localhost:${server.httpPort}` }, agent: false });
    held.on('error', () => undefined);
    await waitFor(() => app.requests.length === 2, { what: () => 'the held request to reach the app' });
    expect(endpoint.opened).toBe(1); // on the kept-alive connection
    held.destroy();
    await waitFor(() => app.abandoned === 1 && endpoint.active === 0, { what: () => 'the tunnel and the app\'s connection to close' });
    expect(await request(server)).toEqual({ status: 200, body: 'hello\n' });
    expect(endpoint.opened).toBe(2);
  });

  it('closes idle connections when their instance\'s tunnel goes, and after the idle timeout', async () => {
    const app = await startApp();
    const { server, endpoint } = await setUp(app);
    expect((await request(server)).status).toBe(200);
    expect(endpoint.active).toBe(1);
    endpoint.stream.cancel();
    await waitFor(() => endpoint.active === 0 && app.open.size === 0, { what: () => 'the idle connection to close with the tunnel' });

    const again = await serveTunnel(tunnelClient(server.addr), endpoint.instance, app.port);
    const t0 = Date.now();
    expect((await request(server)).status).toBe(200);
    await waitFor(() => again.active === 0, { what: () => 'the idle timeout', timeoutMs: 10_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(3_500); // 4 s idle, not at once
  });

  it('counts requests in flight against the limit, not kept connections', async () => {
    const app = await startApp();
    const { server, endpoint } = await setUp(app, ['--url-max-concurrent', '1']);
    expect((await request(server)).status).toBe(200);
    expect(endpoint.active).toBe(1); // kept, idle
    expect((await request(server)).status).toBe(200);
    const held = request(server, { path: '/hold' });
    await waitFor(() => app.requests.length === 3, { what: () => 'the held request to reach the app' });
    const busy = await request(server);
    expect(busy.status).toBe(503);
    expect(busy.body).toMatch(/at its limit of 1 concurrent requests/);
    app.release();
    expect(await held).toEqual({ status: 200, body: 'held\n' });
    await waitFor(async () => (await request(server)).status === 200, { what: () => 'a free slot again' });
    expect(endpoint.opened).toBe(1);
  });
});
