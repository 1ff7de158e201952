// Upgrades through the URL ingress (M5, the audit's upgrade.py and slots.py): raw bytes only
// after the app's 101, any other answer an ordinary response after which the connection
// closes, idle upgraded connections closed, and the instance's slot free once the app's side
// ends whatever the client does with its own.
import { afterEach, describe, expect, it } from 'vitest';
import { serveTunnel, tunnelClient } from '../../../helpers/fake-tunnel-endpoint.js';
import { type OpenConnection, openConnection, rawExchange } from '../../../helpers/raw-http.js';
import { type RecordingApp, startRecordingApp } from '../../../helpers/recording-app.js';
import { waitFor } from '../../../helpers/run.js';
import { startServer, type TestServer } from '../../../helpers/server.js';
import { cleanUpUrlTest } from '../../../helpers/url-apps.js';

const conns: OpenConnection[] = [];

afterEach(async () => {
  for (const c of conns) c.socket.destroy();
  conns.length = 0;
  await cleanUpUrlTest();
});

async function setUp(args: string[], upgrades: boolean): Promise<{ server: TestServer; app: RecordingApp; host: string }> {
  const server = await startServer({ args });
  const app = await startRecordingApp({ upgrades });
  await serveTunnel(tunnelClient(server.addr), await server.connectInstance('web'), app.port);
  return { server, app, host: `web.localhost:${server.httpPort}` };
}

async function open(server: TestServer, opts: { allowHalfOpen?: boolean } = {}): Promise<OpenConnection> {
  const c = await openConnection(server.httpPort!, opts);
  conns.push(c);
  return c;
}

const upgrade = (host: string, path: string, protocol: string) =>
  `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;

describe('M5: upgrades', () => {
  it('M5: an app that answers an upgrade with 200 gives an ordinary response, and nothing after it reaches the app raw', async () => {
    const { server, app, host } = await setUp([], false);
    const c = await open(server);
    c.socket.write(upgrade(host, '/upgrade', 'websocket'));
    await waitFor(() => c.closed, { what: () => 'the connection to close after the response', timeoutMs: 5_000 });
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*Connection: close\r\n\r\nseen GET \/upgrade\n$/);
    // upgrade.py's second step: a request written on the same connection, unproxied if it were a pipe.
    c.socket.write(`GET /raw-after-upgrade HTTP/1.1\r\nHost: evil\r\nX-Forwarded-For: 1.2.3.4\r\n\r\n`);
    expect((await rawExchange(server.httpPort!, `GET /after HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).status).toBe(200);
    expect(app.requests.map((r) => r.url)).toEqual(['/upgrade', '/after']);
    // The upgrade reached the app with our forwarded headers.
    expect(app.requests[0].headers).toEqual(expect.arrayContaining(['X-Forwarded-For', '127.0.0.1', 'Upgrade', 'websocket']));
  });

  it('M5: upgrades the app refuses do not hold the instance\'s slots (slots.py)', async () => {
    const { server, app, host } = await setUp(['--url-max-concurrent', '2'], false);
    // One after another, each client keeping its socket open: the third would find both slots held.
    for (let i = 0; i < 5; i++) {
      const c = await open(server);
      c.socket.write(upgrade(host, `/u-${i}`, 'x'));
      await waitFor(() => c.received().includes('\r\n\r\n'), { what: () => `the answer to upgrade ${i}` });
      expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    }
    expect(app.requests).toHaveLength(5);
    expect((await rawExchange(server.httpPort!, `GET /legit HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).status).toBe(200);
  });

  it('M5: carries bytes both ways after a 101, and closes an upgraded connection idle past --url-upgrade-idle-timeout', async () => {
    const { server, app, host } = await setUp(['--url-upgrade-idle-timeout', '700ms', '--url-max-concurrent', '1'], true);
    const c = await open(server);
    c.socket.write(upgrade(host, '/ws', 'websocket'));
    await waitFor(() => c.received().includes('\r\n\r\n'), { what: () => 'the 101' });
    expect(c.received()).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    c.socket.write('ping');
    await waitFor(() => c.received().endsWith('ping'), { what: () => 'the echo' });
    const quietFrom = Date.now();
    await waitFor(() => c.closed && app.upgraded.size === 0, { what: () => `the idle upgraded connection to close (client closed: ${c.closed}, app holds ${app.upgraded.size})`, timeoutMs: 5_000 });
    expect(Date.now() - quietFrom).toBeGreaterThanOrEqual(500);
    expect((await rawExchange(server.httpPort!, `GET /after HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).status).toBe(200);
  });

  it('M5: frees the instance\'s slot when the app ends its side, while the client keeps its own open', async () => {
    const { server, app, host } = await setUp(['--url-max-concurrent', '1'], true);
    const c = await open(server, { allowHalfOpen: true });
    c.socket.write(upgrade(host, '/ws', 'websocket'));
    await waitFor(() => app.upgraded.size === 1 && c.received().includes('\r\n\r\n'), { what: () => 'the upgrade' });
    expect((await rawExchange(server.httpPort!, `GET /busy HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).status).toBe(503);
    for (const s of app.upgraded) s.end();
    // Well within the 5 s the client is given to close its side.
    await waitFor(async () => (await rawExchange(server.httpPort!, `GET /free HTTP/1.1\r\nHost: ${host}\r\n\r\n`)).status === 200, {
      what: () => 'the slot to be free',
      timeoutMs: 2_000,
    });
    expect(c.closed).toBe(false);
  });

  it('refuses an upgrade with a body, with one line', async () => {
    const { server, app, host } = await setUp([], true);
    const r = await rawExchange(server.httpPort!, `POST /ws HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 5\r\n\r\nhello`);
    expect(r.status).toBe(400);
    expect(r.text).toMatch(/\r\n\r\nbad request: an Upgrade request with a body is not supported; send it without Upgrade\n$/);
    expect(app.requests).toEqual([]);
  });
});
