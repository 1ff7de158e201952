// The URL service end to end: the real server (`waypoint-ctl server run`), the real entrypoint
// bundle and a real app (test/fixtures/url-app.mjs) behind it. The app is reached at its URL,
// with no port opened for it, and again after the server restarts, without restarting the app.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, FIXTURES, killAll, type Running, start, waitFor, withDeadline } from '../helpers/run.js';
import { freePort, startServer, stopServers, type TestServer } from '../helpers/server.js';

const APP = path.join(FIXTURES, 'url-app.mjs');

afterEach(async () => {
  killAll();
  await stopServers();
});

interface Answer {
  status: number;
  body: Buffer;
}

function request(server: TestServer, host: string, opts: { method?: string; path?: string; body?: Buffer } = {}): Promise<Answer> {
  return withDeadline(
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.httpPort, method: opts.method ?? 'GET', path: opts.path ?? '/', agent: false, headers: { Host: host } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    }),
    20_000,
    `${host}${opts.path ?? '/'}`,
  );
}

/** The app under the real entrypoint, connected to the server as an instance of `deploymentId`. */
async function launch(server: TestServer, deploymentId: string, inviteToken: string): Promise<{ entrypoint: Running; appPid: number }> {
  const entrypoint = start(['node', APP], {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
      WAYPOINT_CEB_STOP_TIMEOUT: '5s',
      PORT: String(await freePort()),
    }),
  });
  await entrypoint.waitForOutput(/listening \d+/);
  return { entrypoint, appPid: Number(/listening (\d+)/.exec(entrypoint.stdout().toString())![1]) };
}

/** `waypoint-ctl url --json` for the app's URL: how many instances serve it. */
async function serving(server: TestServer, app: string): Promise<number> {
  const r = await server.ctl(['url', '--app', app, '--json']);
  if (r.code !== 0) return -1;
  const urls = JSON.parse(r.stdout.toString()) as { deployment_id: string | null; instances: number }[];
  return urls.find((u) => u.deployment_id === null)?.instances ?? 0;
}

describe('URL service end to end', () => {
  it('reaches the app through its entrypoint\'s tunnel, and again after the server restarts, the app untouched', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const host = `shop.localhost:${server.httpPort}`;
    expect((await request(server, host)).status).toBe(503);

    const { entrypoint, appPid } = await launch(server, deploymentId, inviteToken);
    await waitFor(async () => (await serving(server, 'shop')) === 1, { what: () => 'the tunnel to register' });
    const hello = await request(server, host);
    expect(hello.status).toBe(200);
    expect(hello.body.toString()).toBe(`hello from ${appPid}\n`);
    const body = randomBytes(8 * 1024 * 1024);
    const echo = await request(server, `shop--${deploymentId.toLowerCase()}.localhost:${server.httpPort}`, { method: 'POST', path: '/echo', body });
    expect(echo.status).toBe(200);
    expect(createHash('sha256').update(echo.body).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));

    await server.restart();
    await waitFor(async () => (await serving(server, 'shop')) === 1, { timeoutMs: 30_000, what: () => 'the tunnel to register again' });
    const again = await request(server, host);
    expect(again.status).toBe(200);
    expect(again.body.toString()).toBe(`hello from ${appPid}\n`);
    expect(entrypoint.stdout().toString().match(/listening \d+/g)).toHaveLength(1); // never restarted

    entrypoint.proc.kill('SIGTERM');
    await withDeadline(entrypoint.exited, 10_000, 'the entrypoint to exit');
    await waitFor(async () => (await request(server, host)).status === 503, { what: () => '503 once the instance is gone' });
  });

  it('a client that stops reading a download holds the app back within a bounded buffer, then gets every byte', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const { entrypoint } = await launch(server, deploymentId, inviteToken);
    await waitFor(async () => (await serving(server, 'shop')) === 1, { what: () => 'the tunnel to register' });
    const total = 256 * 1024 * 1024;
    let received = 0;
    let res!: http.IncomingMessage;
    const done = new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: server.httpPort, path: `/flood?bytes=${total}`, headers: { Host: `shop.localhost:${server.httpPort}` }, agent: false }, (r) => {
          res = r;
          r.once('data', () => r.pause()); // one chunk, then nothing read
          r.on('data', (c: Buffer) => (received += c.length));
          r.on('end', resolve);
          r.on('error', reject);
        })
        .on('error', reject);
    });
    // What the app got out so far: the last "flood sent" it printed.
    const sent = () => Number([...entrypoint.stdout().toString().matchAll(/flood sent (\d+)/g)].at(-1)?.[1] ?? 0);
    // Held back: the app's count stays put for 10 polls in a row.
    let last = -1;
    let still = 0;
    await waitFor(
      () => {
        still = sent() > 0 && sent() === last ? still + 1 : 0;
        last = sent();
        return still >= 10;
      },
      { intervalMs: 100, timeoutMs: 30_000, what: () => `the app to be held back (${sent()} bytes sent)` },
    );
    // What sits between the two is socket buffers, windows and a few messages, not the download.
    expect(sent()).toBeLessThan(64 * 1024 * 1024);
    res.resume();
    await withDeadline(done, 60_000, 'the rest of the download');
    expect(received).toBe(total);
  }, 90_000);

  it('spreads requests over two instances, and answers 502 from an app that is down', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const one = await launch(server, deploymentId, inviteToken);
    const two = await launch(server, deploymentId, inviteToken);
    await waitFor(async () => (await serving(server, 'shop')) === 2, { what: () => 'both tunnels to register' });
    const host = `shop.localhost:${server.httpPort}`;
    const bodies = new Set<string>();
    for (let i = 0; i < 4; i++) bodies.add((await request(server, host)).body.toString());
    expect(bodies).toEqual(new Set([`hello from ${one.appPid}\n`, `hello from ${two.appPid}\n`]));

    // An entrypoint whose app does not listen: its tunnel is up, the app refuses.
    const down = await server.createDeployment('down');
    const entrypoint = start(['sleep', '60'], {
      env: cleanEnv({ WAYPOINT_SERVER_ADDR: server.addr, WAYPOINT_DEPLOYMENT_ID: down.deploymentId, WAYPOINT_CEB_INVITE_TOKEN: down.inviteToken, PORT: String(await freePort()) }),
    });
    await waitFor(async () => (await serving(server, 'down')) === 1, { what: () => 'the tunnel of the app that is down' });
    const r = await request(server, `down.localhost:${server.httpPort}`);
    expect(r.status).toBe(502);
    expect(r.body.toString()).toMatch(/^app down is not answering: connect ECONNREFUSED 127\.0\.0\.1:\d+\n$/);
    expect(entrypoint.proc.exitCode).toBeNull();
  });
});
