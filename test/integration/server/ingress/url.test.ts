// The URL service of the real server (`waypoint-ctl server run`), driven by scripted entrypoints
// (test/helpers/fake-tunnel-endpoint.ts) that bridge each tunnel connection to a real local HTTP
// app: routing by Host, bodies streamed both ways, SSE, WebSocket, round robin, the error
// answers, the limits, and who may register and accept tunnels.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { register, tunnelClient, urlTokenOf } from '../../../helpers/fake-tunnel-endpoint.js';
import { grpc, md } from '../../../helpers/grpc.js';
import { waitFor, withDeadline } from '../../../helpers/run.js';
import { type FakeInstance, freePort, logRecords, startServer } from '../../../helpers/server.js';
import { cleanUpUrlTest, gate, hostOf, ingressRequest, instanceWithTunnel, listenApp } from '../../../helpers/url-apps.js';

afterEach(cleanUpUrlTest);

interface App {
  port: number;
  name: string;
  /** Requests it got, as "METHOD path". */
  requests: string[];
  /** Lets the held requests (/hold, /sse) finish. */
  release(): void;
  /** Requests of /hold whose connection closed before they were answered. */
  abandoned: number;
  sseFinished: boolean;
}

/** A real HTTP app on 127.0.0.1: hello, headers, echo, SSE, held requests, a download, WebSocket echo. */
async function startApp(name: string): Promise<App> {
  const held = gate();
  const server = http.createServer((req, res) => {
    app.requests.push(`${req.method} ${req.url}`);
    const url = new URL(req.url ?? '/', 'http://x');
    switch (url.pathname) {
      case '/hello':
        res.writeHead(201, { 'Content-Type': 'text/plain', 'X-App': name, 'Set-Cookie': ['a=1', 'b=2'] });
        res.end(`hello from ${name}\n`);
        return;
      case '/headers':
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(req.headers));
        return;
      case '/echo':
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        req.pipe(res);
        return;
      case '/sse':
        res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
        res.write('data: one\n\n');
        void held.passed().then(() => {
          app.sseFinished = true;
          res.end('data: two\n\n');
        });
        return;
      case '/hold':
        res.on('close', () => {
          if (!res.writableFinished) app.abandoned++;
        });
        void held.passed().then(() => res.end('held\n'));
        return;
      case '/download': {
        const total = Number(url.searchParams.get('bytes'));
        const chunk = Buffer.alloc(64 * 1024, 7);
        let sent = 0;
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': total });
        const pump = () => {
          while (sent < total) {
            const piece = chunk.subarray(0, Math.min(chunk.length, total - sent));
            sent += piece.length;
            if (!res.write(piece)) return void res.once('drain', pump);
          }
          res.end();
        };
        pump();
        return;
      }
      default:
        res.writeHead(404);
        res.end();
    }
  });
  server.on('upgrade', (req, socket: Socket, head: Buffer) => websocketEcho(req, socket, head));
  const app: App = { port: 0, name, requests: [], abandoned: 0, sseFinished: false, release: held.release };
  app.port = await listenApp(server);
  return app;
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** The server half of WebSocket, just enough to echo small text frames. */
function websocketEcho(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
  const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${WS_GUID}`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  let buffered = head;
  const onData = (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const frame = decodeFrame(buffered);
      if (!frame) return;
      buffered = buffered.subarray(frame.size);
      socket.write(encodeFrame(Buffer.from(`echo: ${frame.payload.toString()}`), false));
    }
  };
  socket.on('data', onData);
  socket.on('error', () => undefined);
  onData(Buffer.alloc(0));
}

/** A text frame of fewer than 126 bytes, masked as a client must send it. */
function encodeFrame(payload: Buffer, masked: boolean): Buffer {
  if (!masked) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, body]);
}

function decodeFrame(buf: Buffer): { payload: Buffer; size: number } | undefined {
  if (buf.length < 2) return undefined;
  const masked = (buf[1] & 0x80) !== 0;
  const length = buf[1] & 0x7f;
  const size = 2 + (masked ? 4 : 0) + length;
  if (buf.length < size) return undefined;
  const mask = masked ? buf.subarray(2, 6) : undefined;
  const payload = Buffer.from(buf.subarray(size - length, size));
  if (mask) for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i % 4];
  return { payload, size };
}

describe('URL service: the config and Register', () => {
  it('puts the same url_service (this server, the deployment\'s URL token) in every config', async () => {
    const server = await startServer();
    const instance = await server.connectInstance('web');
    const first = instance.config.messages[0].config!.url_service!;
    expect(first.control_addr).toBe('');
    expect(first.token).toMatch(/^wp1\./);
    await server.ctl(['config', 'set', '--app', 'web', 'A=1']);
    await instance.config.waitForMessages(2);
    expect(instance.config.messages[1].config!.url_service).toEqual(first);
    // Another instance of the same deployment gets the same token; another deployment another.
    const twin = await server.connectInstance('web', { deploymentId: instance.deploymentId, token: instance.token });
    expect(urlTokenOf(twin)).toBe(first.token);
    expect(urlTokenOf(await server.connectInstance('web'))).not.toBe(first.token);
  });

  it('has no url_service and refuses Register with --http-listen off', async () => {
    const server = await startServer({ http: false });
    expect(server.httpPort).toBeUndefined();
    const instance = await server.connectInstance('web');
    expect(instance.config.messages[0].config!.url_service).toBeNull();
    const err = await register(tunnelClient(server.addr), instance, { urlToken: 'x' }).waitForEnd();
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    const r = await server.ctl(['url']);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toMatch(/URL service is off/);
  });

  it('answers registered with the app\'s and the deployment\'s URLs', async () => {
    const server = await startServer();
    const instance = await server.connectInstance('Web');
    const urls = await register(tunnelClient(server.addr), instance).registered();
    expect(urls).toEqual([
      `http://web.localhost:${server.httpPort}/`,
      `http://web--${instance.deploymentId.toLowerCase()}.localhost:${server.httpPort}/`,
    ]);
  });

  it('lets only the token that registered the instance register its tunnel, with its deployment\'s URL token', async () => {
    const server = await startServer();
    const client = tunnelClient(server.addr);
    const a = await server.connectInstance('alpha');
    const b = await server.connectInstance('beta');
    const code = async (instance: FakeInstance, opts: Parameters<typeof register>[2]) => (await register(client, instance, opts).waitForEnd())?.code;

    // A token of deployment A never registers B's instance, whatever URL token it shows.
    expect(await code(b, { token: a.token })).toBe(grpc.status.PERMISSION_DENIED);
    expect(await code(b, { token: a.token, urlToken: urlTokenOf(a) })).toBe(grpc.status.PERMISSION_DENIED);
    // B's own token with A's URL token: the URL token is bound to its deployment.
    expect(await code(b, { urlToken: urlTokenOf(a) })).toBe(grpc.status.PERMISSION_DENIED);
    // Forged, missing, or the wrong kind of token.
    expect(await code(b, { urlToken: `${urlTokenOf(b)}x` })).toBe(grpc.status.UNAUTHENTICATED);
    expect(await code(b, { urlToken: '' })).toBe(grpc.status.UNAUTHENTICATED);
    expect(await code(b, { urlToken: b.token })).toBe(grpc.status.PERMISSION_DENIED);
    expect(await code(b, { token: server.operatorToken })).toBe(grpc.status.PERMISSION_DENIED);
    // The URL token is no credential for calls.
    expect(await code(b, { token: urlTokenOf(b) })).toBe(grpc.status.PERMISSION_DENIED);
    // An instance that is not registered (no config stream).
    expect(await code(b, { instanceId: 'nobody' })).toBe(grpc.status.FAILED_PRECONDITION);
    // Nothing above registered anything.
    const r = await ingressRequest(server, hostOf(server, 'beta'));
    expect(r.status).toBe(503);
    // And the right one does.
    expect(await register(client, b).registered()).toHaveLength(2);
  });

  it('lets only the registering instance\'s token accept a connection asked of it', async () => {
    const server = await startServer();
    const app = await startApp('a');
    const client = tunnelClient(server.addr);
    const a = await server.connectInstance('alpha');
    const b = await server.connectInstance('beta');
    const ids: string[] = [];
    await register(client, a, {}, (id) => ids.push(id)).registered();
    const pending = ingressRequest(server, hostOf(server, 'alpha'));
    await waitFor(() => ids.length === 1, { what: () => 'an open on the Register stream' });

    const acceptError = (token: string, instanceId: string, connectionId: string) =>
      new Promise<grpc.ServiceError>((resolve) => {
        const call = client.Connect(md({ token }));
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ accept: { instance_id: instanceId, connection_id: connectionId } });
      });
    expect((await acceptError(b.token, a.id, ids[0])).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await acceptError(b.token, b.id, ids[0])).code).toBe(grpc.status.PERMISSION_DENIED);
    expect((await acceptError(a.token, a.id, 'no-such-connection')).code).toBe(grpc.status.NOT_FOUND);
    const firstNotAccept = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.Connect(md({ token: a.token }));
      call.on('error', resolve);
      call.write({ connected: {} });
    });
    expect(firstNotAccept.code).toBe(grpc.status.INVALID_ARGUMENT);

    // Nobody accepted it: the only instance does not answer, and the request says so.
    const r = await pending;
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(/^app alpha is not answering: instance \S+ did not open the tunnel connection within 5000 ms\n$/);
    expect(app.requests).toEqual([]);
  });
});

describe('URL service: requests through the ingress', () => {
  it('carries a GET: status, headers (repeated ones too) and body; X-Forwarded-* added', async () => {
    const server = await startServer();
    const app = await startApp('web-1');
    await instanceWithTunnel(server, 'web', app.port);

    const r = await ingressRequest(server, `WEB.LocalHost:${server.httpPort}`);
    expect(r.status).toBe(201);
    expect(r.body.toString()).toBe('hello from web-1\n');
    expect(r.headers['x-app']).toBe('web-1');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);

    const forged = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example', 'X-Custom': 'kept' };
    const h = JSON.parse((await ingressRequest(server, hostOf(server, 'web'), { path: '/headers', headers: forged })).body.toString());
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h['x-forwarded-proto']).toBe('http');
    expect(h['x-forwarded-host']).toBe(hostOf(server, 'web'));
    expect(h.host).toBe(hostOf(server, 'web'));
    expect(h['x-custom']).toBe('kept');
  });

  it('L5: keeps and appends to the forwarded headers of a --trusted-proxy only', async () => {
    const server = await startServer({ args: ['--trusted-proxy', '10.0.0.0/8,127.0.0.1/32'] });
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const forged = { 'X-Forwarded-For': '203.0.113.9', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'shop.example' };
    const h = JSON.parse((await ingressRequest(server, hostOf(server, 'web'), { path: '/headers', headers: forged })).body.toString());
    expect([h['x-forwarded-for'], h['x-forwarded-proto'], h['x-forwarded-host']]).toEqual(['203.0.113.9, 127.0.0.1', 'https', 'shop.example']);
    const bad = await server.ctl(['server', 'run', '--trusted-proxy', '10.0.0.0/40']);
    expect(bad.code).toBe(2);
    expect(bad.stderr.toString()).toMatch(/--trusted-proxy: invalid trusted proxy "10\.0\.0\.0\/40": expected an address or CIDR/);
  });

  it('echoes a 20 MB POST byte for byte, streamed both ways', async () => {
    const server = await startServer();
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const body = randomBytes(20 * 1024 * 1024);
    const r = await ingressRequest(server, hostOf(server, 'web'), { method: 'POST', path: '/echo', body });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(body.length);
    expect(createHash('sha256').update(r.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('streams server-sent events: the first arrives before the app finishes', async () => {
    const server = await startServer();
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const received: string[] = [];
    let ended = false;
    const req = http.get({ host: '127.0.0.1', port: server.httpPort, path: '/sse', headers: { Host: hostOf(server, 'web') }, agent: false }, (res) => {
      expect(res.headers['content-type']).toBe('text/event-stream');
      res.on('data', (c: Buffer) => received.push(c.toString()));
      res.on('end', () => (ended = true));
    });
    req.on('error', () => undefined);
    await waitFor(() => received.join('').includes('data: one\n\n'), { what: () => 'the first event' });
    expect(app.sseFinished).toBe(false);
    expect(ended).toBe(false);
    app.release();
    await waitFor(() => ended, { what: () => 'the stream to end' });
    expect(received.join('')).toBe('data: one\n\ndata: two\n\n');
  });

  it('carries a WebSocket: the upgrade, then frames both ways', async () => {
    const server = await startServer();
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const key = randomBytes(16).toString('base64');
    const { res, socket } = await withDeadline(
      new Promise<{ res: http.IncomingMessage; socket: Socket }>((resolve, reject) => {
        const req = http.request({
          host: '127.0.0.1',
          port: server.httpPort,
          path: '/ws',
          headers: { Host: hostOf(server, 'web'), Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Key': key, 'Sec-WebSocket-Version': '13' },
        });
        req.on('upgrade', (r, s: Socket) => resolve({ res: r, socket: s }));
        req.on('response', (r) => reject(new Error(`no upgrade: ${r.statusCode}`)));
        req.on('error', reject);
        req.end();
      }),
      10_000,
      'the upgrade',
    );
    expect(res.statusCode).toBe(101);
    expect(res.headers['sec-websocket-accept']).toBe(createHash('sha1').update(`${key}${WS_GUID}`).digest('base64'));
    let got = Buffer.alloc(0);
    socket.on('data', (c: Buffer) => (got = Buffer.concat([got, c])));
    for (const text of ['hi', 'there']) {
      socket.write(encodeFrame(Buffer.from(text), true));
      await waitFor(() => decodeFrame(got) !== undefined, { what: () => `the echo of ${text}` });
      const frame = decodeFrame(got)!;
      got = got.subarray(frame.size);
      expect(frame.payload.toString()).toBe(`echo: ${text}`);
    }
    socket.destroy();
    expect(app.requests).toEqual([]); // an upgrade is no request of the app's HTTP handler
  });

  it('serves apps under the domain of --url-domain, and not under localhost', async () => {
    const server = await startServer({ args: ['--url-domain', 'example.test'] });
    const app = await startApp('web');
    const served = await instanceWithTunnel(server, 'web', app.port);
    expect((await served.stream.registered())[0]).toBe(`http://web.example.test:${server.httpPort}/`);
    const r = await ingressRequest(server, `web.example.test:${server.httpPort}`);
    expect([r.status, r.body.toString()]).toEqual([201, 'hello from web\n']);
    const elsewhere = await ingressRequest(server, hostOf(server, 'web'));
    expect(elsewhere.status).toBe(404);
    expect(elsewhere.body.toString()).toMatch(/^no app at "web\.localhost:\d+": app URLs look like http:\/\/<app>\.example\.test:\d+\/\n$/);
    expect(app.requests).toEqual(['GET /hello']);
    const listed = JSON.parse((await server.ctl(['url', '--json'])).stdout.toString()) as { url: string }[];
    expect(listed[0].url).toBe(`http://web.example.test:${server.httpPort}/`);
  });

  it('answers an upgrade it cannot carry with one plain-text line and the status\'s own reason phrase', async () => {
    const server = await startServer();
    await server.createDeployment('idle');
    const upgrade = (host: string) =>
      withDeadline(
        new Promise<string>((resolve, reject) => {
          const socket = connect(server.httpPort!, '127.0.0.1');
          let got = '';
          socket.on('data', (c: Buffer) => (got += c.toString()));
          socket.on('end', () => resolve(got));
          socket.on('error', reject);
          socket.end(`GET /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
        }),
        10_000,
        `the upgrade to ${host}`,
      );
    const body404 = 'no app named nope on this server\n';
    expect(await upgrade(hostOf(server, 'nope'))).toBe(
      'HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n' +
        `Content-Length: ${body404.length}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n${body404}`,
    );
    expect(await upgrade(hostOf(server, 'idle'))).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n[^]*\r\n\r\nno instance of app idle is connected with its tunnel\n$/);
  });

  it('spreads requests over the instances round robin', async () => {
    const server = await startServer();
    const one = await startApp('one');
    const two = await startApp('two');
    const first = await instanceWithTunnel(server, 'web', one.port);
    await instanceWithTunnel(server, 'web', two.port, first.instance);
    const bodies = [];
    for (let i = 0; i < 6; i++) bodies.push((await ingressRequest(server, hostOf(server, 'web'))).body.toString());
    expect(bodies.filter((b) => b === 'hello from one\n')).toHaveLength(3);
    expect(bodies.filter((b) => b === 'hello from two\n')).toHaveLength(3);
  });

  it('skips an instance whose app is down, and answers 502 when none answers', async () => {
    const server = await startServer();
    const app = await startApp('up');
    const dead = await freePort();
    const down = await instanceWithTunnel(server, 'web', dead);
    await instanceWithTunnel(server, 'web', app.port, down.instance);
    for (let i = 0; i < 4; i++) expect((await ingressRequest(server, hostOf(server, 'web'))).status).toBe(201);
    expect(down.opened).toBeGreaterThan(0); // it was tried, and skipped

    const alone = await instanceWithTunnel(server, 'lonely', dead);
    const r = await ingressRequest(server, hostOf(server, 'lonely'));
    expect(r.status).toBe(502);
    expect(r.headers['content-type']).toMatch(/^text\/plain/);
    expect(r.body.toString()).toMatch(new RegExp(`^app lonely is not answering: connect ECONNREFUSED 127\\.0\\.0\\.1:${dead}\\n$`));
    expect(alone.opened).toBe(1);
  });

  it('answers 404 for an unknown host, app or deployment, 503 with no instance', async () => {
    const server = await startServer();
    const app = await startApp('web');
    const served = await instanceWithTunnel(server, 'web', app.port);
    const idle = await server.createDeployment('idle');

    const expectAnswer = async (host: string, status: number, text: RegExp) => {
      const r = await ingressRequest(server, host);
      expect(r.status).toBe(status);
      expect(r.headers['content-type']).toMatch(/^text\/plain/);
      expect(r.body.toString()).toMatch(text);
      expect(r.body.toString().trim().split('\n')).toHaveLength(1);
    };
    await expectAnswer('example.com', 404, /no app at "example\.com"/);
    await expectAnswer(hostOf(server, 'nope'), 404, /no app named nope/);
    await expectAnswer(hostOf(server, `web--01aaaaaaaaaaaaaaaaaaaaaaaa`), 404, /app web has no deployment 01AAAAAAAAAAAAAAAAAAAAAAAA/);
    await expectAnswer(hostOf(server, `nope--${served.instance.deploymentId.toLowerCase()}`), 404, /no app named nope/);
    await expectAnswer(hostOf(server, 'idle'), 503, /no instance of app idle is connected/);
    await expectAnswer(hostOf(server, `idle--${idle.deploymentId}`), 503, /no instance of app idle \(deployment \w+\) is connected/);
    expect(app.requests).toEqual([]);

    // The instance goes away: so does its tunnel.
    served.instance.config.cancel();
    await waitFor(async () => (await ingressRequest(server, hostOf(server, 'web'))).status === 503, { what: () => '503 once the instance left' });
    await waitFor(() => served.stream.ended, { what: () => 'the Register stream to end with its instance' });
  });

  it('routes the app\'s URL to its newest deployment with a live tunnel, and a deployment\'s URL to that one', async () => {
    const server = await startServer();
    const old = await startApp('old');
    const fresh = await startApp('new');
    const a = await instanceWithTunnel(server, 'web', old.port);
    const b = await instanceWithTunnel(server, 'web', fresh.port);
    expect((await ingressRequest(server, hostOf(server, 'web'))).body.toString()).toBe('hello from new\n');
    expect((await ingressRequest(server, hostOf(server, `web--${a.instance.deploymentId.toLowerCase()}`))).body.toString()).toBe('hello from old\n');
    expect((await ingressRequest(server, hostOf(server, `web--${b.instance.deploymentId}`))).body.toString()).toBe('hello from new\n');

    const listed = JSON.parse((await server.ctl(['url', '--json'])).stdout.toString());
    expect(listed).toEqual([
      { url: `http://web.localhost:${server.httpPort}/`, app: 'web', deployment_id: null, instances: 1 },
      { url: `http://web--${b.instance.deploymentId.toLowerCase()}.localhost:${server.httpPort}/`, app: 'web', deployment_id: b.instance.deploymentId, instances: 1 },
      { url: `http://web--${a.instance.deploymentId.toLowerCase()}.localhost:${server.httpPort}/`, app: 'web', deployment_id: a.instance.deploymentId, instances: 1 },
    ]);

    // The newest deployment's tunnel goes: the app's URL falls back to the older one.
    b.stream.cancel();
    await waitFor(async () => (await ingressRequest(server, hostOf(server, 'web'))).body.toString() === 'hello from old\n', {
      what: () => 'the app URL to reach the old deployment',
    });
    const table = (await server.ctl(['url', '--app', 'web'])).stdout.toString().trim().split('\n');
    expect(table[0]).toMatch(/^URL\s+APP\s+DEPLOYMENT\s+INSTANCES$/);
    expect(table[1]).toMatch(new RegExp(`^http://web\\.localhost:${server.httpPort}/\\s+web\\s+\\(newest\\)\\s+1$`));
    expect(table.some((l) => l.includes(b.instance.deploymentId) && / 0$/.test(l))).toBe(true); // live instance, no tunnel
    expect((await server.ctl(['url', '--app', 'nope'])).code).toBe(1);
  });

  it('lists apps whose names differ only in case under their one URL, naming the app a request to it reaches', async () => {
    const server = await startServer();
    const upper = await startApp('Web');
    const lower = await startApp('web');
    const older = await instanceWithTunnel(server, 'Web', upper.port);
    const newer = await instanceWithTunnel(server, 'web', lower.port);
    const port = server.httpPort;
    const listing = async (args: string[] = []) => JSON.parse((await server.ctl(['url', '--json', ...args])).stdout.toString()) as { url: string; app: string }[];
    const reached = async () => (await ingressRequest(server, hostOf(server, 'web'))).body.toString();

    expect(await reached()).toBe('hello from web\n');
    const rows = await listing();
    expect(rows).toEqual([
      { url: `http://web.localhost:${port}/`, app: 'web', deployment_id: null, instances: 1 },
      { url: `http://web--${newer.instance.deploymentId.toLowerCase()}.localhost:${port}/`, app: 'web', deployment_id: newer.instance.deploymentId, instances: 1 },
      { url: `http://web--${older.instance.deploymentId.toLowerCase()}.localhost:${port}/`, app: 'Web', deployment_id: older.instance.deploymentId, instances: 1 },
    ]);
    expect(new Set(rows.map((r) => r.url)).size).toBe(rows.length);
    expect(await listing(['--app', 'Web'])).toEqual(rows);

    // The newer one's tunnel goes: the URL reaches Web, and the listing says so.
    newer.stream.cancel();
    await waitFor(async () => (await reached()) === 'hello from Web\n', { what: () => 'the app URL to reach Web' });
    expect((await listing()).filter((r) => r.url === `http://web.localhost:${port}/`)).toEqual([
      { url: `http://web.localhost:${port}/`, app: 'Web', deployment_id: null, instances: 1 },
    ]);
  });
});

describe('URL service: limits', () => {
  it('answers 503 with Retry-After when every instance is at its limit', async () => {
    const server = await startServer({ args: ['--url-max-concurrent', '1'] });
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const held = ingressRequest(server, hostOf(server, 'web'), { path: '/hold' });
    await waitFor(() => app.requests.length === 1, { what: () => 'the held request to reach the app' });
    const r = await ingressRequest(server, hostOf(server, 'web'));
    expect(r.status).toBe(503);
    expect(r.headers['retry-after']).toBe('1');
    expect(r.body.toString()).toMatch(/every instance of app web is at its limit of 1 concurrent requests/);
    app.release();
    expect((await held).body.toString()).toBe('held\n');
    await waitFor(async () => (await ingressRequest(server, hostOf(server, 'web'))).status === 201, { what: () => 'a free slot again' });
  });

  it('answers 504 when no response head comes in time', async () => {
    const server = await startServer({ args: ['--url-request-timeout', '300ms'] });
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const r = await ingressRequest(server, hostOf(server, 'web'), { path: '/hold' });
    expect(r.status).toBe(504);
    expect(r.body.toString()).toBe('app web sent no response within 0.3 s\n');
    await waitFor(() => app.abandoned === 1, { what: () => 'the app\'s connection to close' });
    expect(logRecords(server.proc.stderr())).toContainEqual(expect.objectContaining({ level: 40, msg: 'URL request failed', status: 504 }));
  });

  it('closes the app\'s connection when the client goes away', async () => {
    const server = await startServer();
    const app = await startApp('web');
    const endpoint = await instanceWithTunnel(server, 'web', app.port);
    const req = http.get({ host: '127.0.0.1', port: server.httpPort, path: '/hold', headers: { Host: hostOf(server, 'web') }, agent: false });
    req.on('error', () => undefined);
    await waitFor(() => app.requests.length === 1, { what: () => 'the request to reach the app' });
    expect(endpoint.active).toBe(1);
    req.destroy();
    await waitFor(() => app.abandoned === 1 && endpoint.active === 0, { what: () => 'the tunnel and the app\'s connection to close' });
  });

  it('carries a 100 MB download to its last byte', async () => {
    const server = await startServer();
    const app = await startApp('web');
    await instanceWithTunnel(server, 'web', app.port);
    const total = 100 * 1024 * 1024;
    let received = 0;
    await withDeadline(
      new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: server.httpPort, path: `/download?bytes=${total}`, headers: { Host: hostOf(server, 'web') }, agent: false }, (res) => {
            expect(res.headers['content-length']).toBe(String(total));
            res.on('data', (c: Buffer) => (received += c.length));
            res.on('end', resolve);
            res.on('error', reject);
          })
          .on('error', reject);
      }),
      60_000,
      'the download',
    );
    expect(received).toBe(total);
  });
});
