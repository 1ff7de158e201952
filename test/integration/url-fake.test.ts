// The URL service's entrypoint side, end to end: the real entrypoint (the bundle) in front of a
// real HTTP app on PORT, against a scripted server (test/helpers/fake-tunnel-server.ts) that
// plays the tunnel broker: it asks for connections on the instance's Register stream and pushes
// raw bytes through each Connect stream, as the ingress does. The app (test/fixtures/url-app.mjs)
// prints its pid and parent at start, so a restart or a second start would show.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_DATA_CHUNK } from '../../src/url/wire.js';
import type { EntrypointConfig } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import { type FakeTunnelServer, startTunnelServer, type TunnelConnection } from '../helpers/fake-tunnel-server.js';
import { socketFds } from '../helpers/proc.js';
import { cleanEnv, FIXTURES, killAll, type Running, start, waitFor } from '../helpers/run.js';
import { freePort } from '../helpers/server.js';

const INVITE = 'invite-url-secret';
const TOKEN = 'token-url-secret';
const URL_TOKEN = 'url-token-secret-1';
const APP = path.join(FIXTURES, 'url-app.mjs');

const servers: FakeTunnelServer[] = [];

afterEach(async () => {
  killAll();
  for (const s of servers.splice(0)) await s.stop();
});

const withUrl = (token = URL_TOKEN, control_addr = ''): EntrypointConfig => ({
  env_vars: [{ name: 'FROM_CONFIG', static: 'yes' }],
  url_service: { control_addr, token, labels: '' },
});
const withoutUrl: EntrypointConfig = { env_vars: [{ name: 'FROM_CONFIG', static: 'yes' }] };

async function server(config: EntrypointConfig, extra: { withoutTunnel?: boolean } = {}): Promise<FakeTunnelServer> {
  const s = await startTunnelServer({ invites: { [INVITE]: TOKEN }, config, urls: ['http://web.localhost:9702/'], ...extra });
  servers.push(s);
  return s;
}

interface Launched {
  r: Running;
  port: number;
  /** Resolves with the app's pid once it listens. */
  appPid(): Promise<number>;
  /** How many times the app started. */
  starts(): number;
}

/** The entrypoint with the app on a port of its own (appListens false: nothing on it). */
async function launch(s: FakeTunnelServer, { appListens = true } = {}): Promise<Launched> {
  const port = await freePort();
  const argv = appListens ? [process.execPath, APP] : ['sh', '-c', 'echo "listening $$ ppid $PPID"; while :; do sleep 0.05; done'];
  const r = start(argv, {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: s.addr,
      WAYPOINT_DEPLOYMENT_ID: 'D1',
      WAYPOINT_CEB_INVITE_TOKEN: INVITE,
      WAYPOINT_CEB_STOP_TIMEOUT: '2s',
      WAYPOINT_LOG_LEVEL: 'debug',
      PORT: String(port),
    }),
  });
  const starts = () => [...r.stdout().toString().matchAll(/^listening (\d+)/gm)].map((m) => Number(m[1]));
  return {
    r,
    port,
    starts: () => starts().length,
    appPid: async () => {
      await r.waitForOutput(/^listening \d+/m);
      return starts()[0];
    },
  };
}

const count = (text: string, needle: string | RegExp) =>
  typeof needle === 'string' ? text.split(needle).length - 1 : [...text.matchAll(new RegExp(needle, 'g'))].length;

/** A GET through one tunnelled connection; returns the raw response. */
async function get(s: FakeTunnelServer): Promise<{ c: TunnelConnection; response: string }> {
  const c = await s.open();
  await c.send(Buffer.from('GET / HTTP/1.1\r\nHost: web.localhost\r\nConnection: close\r\n\r\n'));
  await c.waitFor('the app to answer and close', () => c.eof());
  c.sendEof();
  await c.waitFor('the stream to end', () => c.ended());
  return { c, response: c.received().toString() };
}

describe('URL service through the entrypoint', () => {
  it('registers with its instance id, the URL token and the port, then carries a GET to the app', async () => {
    const s = await server(withUrl());
    const { r, port, appPid } = await launch(s);
    const pid = await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    const reg = s.registrations[0];
    expect(reg.request).toEqual({ instance_id: s.instanceIds[0], token: URL_TOKEN, port });
    expect(reg.token).toBe(TOKEN);
    await r.waitForOutput('info: URL service registered urls=http://web.localhost:9702/', { stream: 'stderr' });

    const { c, response } = await get(s);
    expect(c.instanceId).toBe(s.instanceIds[0]);
    expect(c.messages[0].event).toBe('connected');
    expect(response).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(response.endsWith(`\r\n\r\nhello from ${pid}\n`)).toBe(true);
    expect(c.failed()).toBeUndefined();
    // Neither token reaches a log line.
    const stderr = r.stderr().toString();
    expect(stderr).not.toContain(URL_TOKEN);
    expect(stderr).not.toContain(TOKEN);
  });

  it('streams a 20 MB request body to an echo app and back, byte-exact', async () => {
    const s = await server(withUrl());
    const { appPid } = await launch(s);
    await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    const body = randomBytes(20 * 1024 * 1024);
    const c = await s.open();
    await c.send(Buffer.from(`POST /echo HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`));
    await c.send(body);
    await c.waitFor('the whole echo', () => c.eof(), 30_000);
    const response = c.received();
    const head = response.indexOf('\r\n\r\n');
    expect(response.subarray(0, head).toString()).toMatch(/^HTTP\/1\.1 200 OK/);
    const echoed = response.subarray(head + 4);
    expect(echoed.length).toBe(body.length);
    expect(echoed.equals(body)).toBe(true);
    // Each message within the MAX_DATA_CHUNK bound.
    expect(Math.max(...c.messages.filter((m) => m.event === 'data').map((m) => m.data!.length))).toBeLessThanOrEqual(MAX_DATA_CHUNK);
  }, 60_000);

  it('echoes different binary bodies on three connections at once, each byte-exact (the app’s bytes of all pass through one read buffer)', async () => {
    const s = await server(withUrl());
    const { appPid } = await launch(s);
    await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    const echo = async (body: Buffer) => {
      const c = await s.open();
      await c.send(Buffer.from(`POST /echo HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`));
      await c.send(body);
      await c.waitFor('the whole echo', () => c.eof(), 30_000);
      const response = c.received();
      return response.subarray(response.indexOf('\r\n\r\n') + 4);
    };
    const bodies = [randomBytes(6 * 1024 * 1024), randomBytes(3 * 1024 * 1024 + 7), randomBytes(1)];
    const echoed = await Promise.all(bodies.map(echo));
    for (const [i, body] of bodies.entries()) expect(echoed[i].equals(body)).toBe(true);
  }, 60_000);

  it('backpressure: an app that does not read holds the sender back instead of filling our memory', async () => {
    const s = await server(withUrl());
    const { r, appPid } = await launch(s);
    const pid = await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    const rssMiB = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${r.pid}/status`, 'utf8'))![1]) / 1024;
    const before = rssMiB();
    const c = await s.open();
    const payload = Buffer.alloc(100 * 1024 * 1024, 0x61);
    let done = false;
    const sent = c.send(Buffer.concat([Buffer.from('SLOW '), payload])).then(() => (done = true));
    await r.waitForOutput('slow paused');
    // Held back: the sender waits on the same drain, without progress, for 10 polls in a row.
    let last = -1;
    let still = 0;
    await waitFor(
      () => {
        if (done) return true;
        still = c.waitingForDrain() && c.bytesSent() === last ? still + 1 : 0;
        last = c.bytesSent();
        return still >= 10;
      },
      { intervalMs: 50, timeoutMs: 20_000, what: () => `the sender to be held back (${c.bytesSent()} bytes sent)` },
    );
    expect(done).toBe(false);
    // Well before 100 MB: what sits between the two is flow-control windows and socket
    // buffers, not the payload.
    expect(c.bytesSent()).toBeLessThan(payload.length / 2);
    expect(rssMiB() - before).toBeLessThan(40);
    process.kill(pid, 'SIGUSR2');
    await sent;
    c.sendEof();
    await r.waitForOutput(`slow received ${payload.length}`, { timeoutMs: 30_000 });
    await c.waitFor('the stream to end', () => c.ended());
  }, 60_000);

  it('half close: the client ends its side and still reads; the app ends its side and still reads', async () => {
    const s = await server(withUrl());
    const { r, appPid } = await launch(s);
    await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });

    // Client first: the app replies only after the client's end.
    const sum = await s.open();
    await sum.send(Buffer.from('SUM 0123456789'));
    sum.sendEof();
    await sum.waitFor('the reply after our half close', () => sum.eof());
    expect(sum.received().toString()).toBe('received 10');
    await sum.waitFor('the stream to end', () => sum.ended());

    // App first: it ends its side at once and keeps reading what the client still sends.
    const half = await s.open();
    await half.send(Buffer.from('HALF '));
    await half.waitFor("the app's end", () => half.eof());
    expect(half.received().toString()).toBe('hi');
    expect(half.ended()).toBe(false);
    await half.send(Buffer.from('more after the app ended'));
    half.sendEof();
    await r.waitForOutput('half received 24');
    await half.waitFor('the stream to end', () => half.ended());
    expect(half.failed()).toBeUndefined();
  });

  it('app not listening: failed before connect, and one warning for many refusals', async () => {
    const s = await server(withUrl());
    const { r, port, appPid } = await launch(s, { appListens: false });
    await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    for (let i = 0; i < 3; i++) {
      const c = await s.open();
      await c.waitFor('failed', () => c.failed() !== undefined);
      expect(c.failed()).toEqual({ message: `connect ECONNREFUSED 127.0.0.1:${port}`, before_connect: true });
      expect(c.connected()).toBe(false);
      await c.waitFor('the stream to end', () => c.ended());
    }
    const stderr = r.stderr().toString();
    expect(count(stderr, 'warn: URL requests cannot reach the app')).toBe(1);
    expect(count(stderr, 'debug: URL connection to the app failed')).toBe(3);
  });

  it('config changes: a new token re-registers, no url_service cancels (a connection in flight finishes); the app never restarts', async () => {
    const s = await server(withUrl());
    const { r, appPid, starts } = await launch(s);
    const pid = await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });

    s.push(withUrl('url-token-secret-2'));
    await waitFor(() => s.registrations.length === 2 && s.registrations[0].cancelled, { what: () => 'a re-registration' });
    expect(s.registrations[1].request.token).toBe('url-token-secret-2');

    const inFlight = await s.open();
    await inFlight.send(Buffer.from('GET / HTTP/1.1\r\nHost: web.localhost\r\n'));
    s.push(withoutUrl);
    await waitFor(() => s.registrations[1].cancelled, { what: () => 'the registration to be cancelled' });
    await inFlight.send(Buffer.from('Connection: close\r\n\r\n'));
    await inFlight.waitFor('the response', () => inFlight.eof());
    expect(inFlight.received().toString()).toContain(`hello from ${pid}`);
    await r.waitForOutput('info: URL service registration withdrawn reason="no URL service in the config"', { stream: 'stderr' });

    s.push(withUrl('url-token-secret-2'));
    await waitFor(() => s.registrations.length === 3, { what: () => 'registered again' });
    const { response } = await get(s);
    expect(response).toContain(`hello from ${pid}`);
    expect(starts()).toBe(1);
    expect(r.stderr().toString()).not.toContain('restarting');
  });

  it('a URL service elsewhere is warned about once and never registered with', async () => {
    const s = await server(withUrl(URL_TOKEN, 'waypoint.example:9701'));
    const { r, appPid } = await launch(s);
    await appPid();
    s.push(withUrl(URL_TOKEN, 'waypoint.example:9701'));
    s.push(withUrl(URL_TOKEN, 'waypoint.example:9701'));
    // Then our own: its Register is the first one this connection ever made.
    s.push(withUrl('url-token-secret-3'));
    await waitFor(() => s.registrations.length >= 1, { what: () => 'a Register call' });
    expect(s.registrations.map((x) => x.request.token)).toEqual(['url-token-secret-3']);
    const stderr = r.stderr().toString();
    expect(count(stderr, "warn: URL service at waypoint.example:9701 is not supported (only this server's own tunnel); ignored")).toBe(1);
  });

  it('a server without the tunnel service: one warning, no retry until the config changes', async () => {
    const s = await server(withUrl(), { withoutTunnel: true });
    const { r, appPid } = await launch(s);
    await appPid();
    await r.waitForOutput(/warn: the server refused the URL service registration.*code=UNIMPLEMENTED/, { stream: 'stderr' });
    s.push(withUrl()); // the same: not asked again
    s.push(withUrl('url-token-secret-4')); // a new token: asked once more
    await waitFor(() => count(r.stderr().toString(), 'debug: registering with the URL service') === 2, {
      what: () => 'the second Register attempt',
    });
    await r.waitForOutput(/config received count=3[^]*registering with the URL service[^]*$/, { stream: 'stderr' });
    expect(count(r.stderr().toString(), 'debug: registering with the URL service')).toBe(2);
    expect(count(r.stderr().toString(), 'warn: the server refused the URL service registration')).toBe(1);
  });

  it('server restarted: registered again on the new session, the URL works, the app untouched', async () => {
    const s = await server(withUrl());
    const { r, appPid, starts } = await launch(s);
    const pid = await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    await s.stop();
    await r.waitForOutput('lost the server connection', { stream: 'stderr' });
    await s.start();
    await waitFor(() => s.registrations.length === 2, { timeoutMs: 20_000, what: () => 'a registration on the new session' });
    expect(s.registrations[1].request.token).toBe(URL_TOKEN);
    const { response } = await get(s);
    expect(response).toContain(`hello from ${pid}`);
    expect(starts()).toBe(1);
    // The same URLs again are no news at info; the lost connection was warned about, once, by
    // the connection itself.
    expect(count(r.stderr().toString(), 'info: URL service registered')).toBe(1);
    expect(r.stderr().toString()).not.toContain('warn: URL service registration ended');
  }, 40_000);

  it('a stopping app leaves the URLs first: SIGTERM cancels the registration, saying why', async () => {
    const s = await server(withUrl());
    const { r } = await launch(s);
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    r.proc.kill('SIGTERM');
    await waitFor(() => s.registrations[0].cancelled, { what: () => 'the registration to be cancelled' });
    await r.exited;
    expect(r.stderr().toString()).toContain('info: URL service registration withdrawn reason="the app is stopping"');
  });

  it('the entrypoint never listens: the app does, through the tunnel', async () => {
    const s = await server(withUrl());
    const { r, port, appPid } = await launch(s);
    const pid = await appPid();
    await waitFor(() => s.registrations.length === 1, { what: () => 'a Register call' });
    const c = await s.open();
    await c.waitFor('connected', () => c.connected());
    // While a tunnelled connection is up: the entrypoint holds TCP sockets, none listening.
    const ours = socketFds(r.pid).filter((x) => x.kind === 'tcp' || x.kind === 'tcp6');
    expect(ours.length).toBeGreaterThanOrEqual(2); // the server connection and the one to the app
    expect(ours.filter((x) => x.tcpState === 'LISTEN')).toEqual([]);
    // The check sees a listener where there is one.
    expect(socketFds(pid).filter((x) => x.tcpState === 'LISTEN')).toHaveLength(1);
    expect(port).toBeGreaterThan(0);
    c.sendEof();
  });
});
