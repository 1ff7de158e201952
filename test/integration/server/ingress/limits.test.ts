// The URL ingress guards the process it shares with the gRPC listener (H4, the audit's
// slowloris.py and fdflood.py): a request head must come within the header timeout, connections
// are limited per client address and in all, and the total stays within a share of the
// process's open-file limit, so that a flood of silent connections never locks operators and
// entrypoints out of gRPC.
import { afterEach, describe, expect, it } from 'vitest';
import { serveTunnel, tunnelClient } from '../../../helpers/fake-tunnel-endpoint.js';
import { type OpenConnection, openConnection, rawExchange } from '../../../helpers/raw-http.js';
import { startRecordingApp } from '../../../helpers/recording-app.js';
import { waitFor } from '../../../helpers/run.js';
import { type LogRecord, logRecords, startServer, type TestServer } from '../../../helpers/server.js';
import { cleanUpUrlTest } from '../../../helpers/url-apps.js';

const conns: OpenConnection[] = [];

afterEach(async () => {
  for (const c of conns) c.socket.destroy();
  conns.length = 0;
  await cleanUpUrlTest();
});

async function withApp(args: string[], opts: { nofile?: number } = {}): Promise<{ server: TestServer; host: string }> {
  const server = await startServer({ args, ...opts });
  const app = await startRecordingApp();
  await serveTunnel(tunnelClient(server.addr), await server.connectInstance('web'), app.port);
  return { server, host: `web.localhost:${server.httpPort}` };
}

async function open(server: TestServer, localAddress?: string): Promise<OpenConnection> {
  const c = await openConnection(server.httpPort!, { localAddress });
  conns.push(c);
  return c;
}

const get = (host: string) => `GET /hello HTTP/1.1\r\nHost: ${host}\r\n\r\n`;

describe('H4: timeouts', () => {
  it('H4: closes a silent connection, and one trickling its head, after the header timeout with 408', async () => {
    const { server, host } = await withApp(['--url-header-timeout', '600ms']);
    const t0 = Date.now();
    const silent = await open(server);
    const trickle = await open(server);
    trickle.socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n`);
    const drip = setInterval(() => trickle.socket.write('X-Drip: 1\r\n'), 100);
    try {
      await waitFor(() => silent.closed && trickle.closed, { what: () => 'both connections to be closed', timeoutMs: 8_000 });
    } finally {
      clearInterval(drip);
    }
    expect(Date.now() - t0).toBeGreaterThanOrEqual(500);
    expect(silent.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    expect(trickle.received()).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    // A request that comes in time is served as ever.
    expect((await rawExchange(server.httpPort!, get(host))).status).toBe(200);
  });

  it('H4: closes an idle kept-alive connection after the keep-alive timeout', async () => {
    const { server, host } = await withApp(['--url-keepalive-timeout', '300ms']);
    const c = await open(server);
    c.socket.write(get(host));
    await waitFor(() => c.closed, { what: () => 'the idle connection to close', timeoutMs: 3_000 });
    expect(c.received()).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });
});

describe('H4: connection limits', () => {
  it('H4: refuses connections over the per-client limit while other clients and gRPC still work', async () => {
    const { server, host } = await withApp(['--url-max-connections-per-client', '3']);
    const held = [await open(server), await open(server), await open(server)];
    const over = await open(server);
    await waitFor(() => over.closed, { what: () => 'the connection over the limit to be closed', timeoutMs: 5_000 });
    expect(held.some((c) => c.closed)).toBe(false);
    // Another address (all of 127/8 is loopback) is served, and so is gRPC.
    expect((await rawExchange(server.httpPort!, get(host), { localAddress: '127.0.0.2' })).status).toBe(200);
    expect(await server.instances()).toHaveLength(1);
    const refused = (r: LogRecord) => /connections refused for a client at its limit/.test(r.msg);
    expect(logRecords(server.proc.stderr()).find(refused)).toMatchObject({ level: 40, client: '127.0.0.1', limit: 3 });
    // More refusals: still one warning in the log.
    for (let i = 0; i < 5; i++) {
      const again = await open(server);
      await waitFor(() => again.closed, { what: () => `refused connection ${i} to be closed` });
    }
    expect(logRecords(server.proc.stderr()).filter(refused)).toHaveLength(1);
    // One goes: the client may open one again.
    held[0].socket.destroy();
    await waitFor(async () => (await rawExchange(server.httpPort!, get(host))).status === 200, { what: () => 'a connection from 127.0.0.1 to be served again' });
  });

  it('H4: does not hold a --trusted-proxy to the per-client limit (every user behind it shares its address)', async () => {
    const { server, host } = await withApp(['--url-max-connections-per-client', '2', '--trusted-proxy', '127.0.0.1']);
    const held = [await open(server), await open(server), await open(server), await open(server)];
    expect((await rawExchange(server.httpPort!, get(host))).status).toBe(200);
    expect(held.some((c) => c.closed)).toBe(false);
    // Its neighbour is no proxy of ours.
    await open(server, '127.0.0.3');
    await open(server, '127.0.0.3');
    const over = await open(server, '127.0.0.3');
    await waitFor(() => over.closed, { what: () => 'the connection over the limit to be closed', timeoutMs: 5_000 });
  });

  it('H4: keeps the ingress within half the open-file limit: a flood of silent connections leaves gRPC working', async () => {
    const { server, host } = await withApp(['--url-max-connections', '5000', '--url-max-connections-per-client', '100000'], { nofile: 256 });
    expect(logRecords(server.proc.stderr())).toContainEqual(expect.objectContaining({
      msg: 'HTTP ingress: at most 128 connections, not 5000, so that gRPC and the database keep descriptors',
      open_file_limit: 256,
    }));
    // More silent connections than the server has descriptors, from several addresses.
    for (let i = 0; i < 300; i++) await open(server, `127.0.0.${2 + (i % 50)}`);
    await waitFor(() => conns.filter((c) => !c.closed).length <= 128, { what: () => 'the connections over the limit to be closed', timeoutMs: 10_000 });
    expect(await server.instances()).toHaveLength(1);
    const r = await server.ctl(['instances']);
    expect(r.code).toBe(0);
    // And once the flood goes, the ingress serves again.
    for (const c of conns) c.socket.destroy();
    await waitFor(async () => (await rawExchange(server.httpPort!, get(host))).status === 200, { what: () => 'the ingress to serve again' });
  });

  it('refuses bad limit and timeout flags with one line', async () => {
    const server = await startServer();
    for (const [flag, value] of [['--url-max-connections', '0'], ['--url-max-connections-per-client', 'x'], ['--url-header-timeout', '1ms'], ['--url-upgrade-idle-timeout', 'soon']]) {
      const r = await server.ctl(['server', 'run', '--listen', '127.0.0.1:0', flag, value]);
      expect(r.code).toBe(2);
      expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
      expect(r.stderr.toString()).toContain(flag);
    }
  });
});
