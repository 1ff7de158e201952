// The entrypoint's client side end to end (the bundle, bin/waypoint-entrypoint) against a
// scriptable fake Waypoint server (test/helpers/fake-waypoint.ts): fail-open timing, fast retry
// within the connect window and backoff after it, reconnect without touching the app, server
// required, metadata and the invite exchange, secrets, protocol negotiation, inline keepalives,
// TLS, and what disabled mode must not load.
//
// Times are measured from just before the entrypoint is spawned to the moment the app itself
// says it started (`date +%s%N`, the same clock), so pipe latency does not blur them.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type FakeWaypoint, startFake } from '../helpers/fake-waypoint.js';
import { childPids, killDescendants, socketFds } from '../helpers/proc.js';
import { cleanEnv, FIXTURES, killAll, ROOT, type Running, start, waitFor, withDeadline } from '../helpers/run.js';

const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const INVITE = 'invite-7d1f0c2a-secret';
const TOKEN = 'token-e5b9a4c3-secret';
const DEPLOYMENT = '01DEPLOYMENTFAKE0000000001';
/** Says when it started (ns since the epoch), then ticks every 50 ms: gaps would show. */
const APP = 'echo "started $(date +%s%N)"; i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done';
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const entrypoints: Running[] = [];
const fakes: FakeWaypoint[] = [];
const servers: Server[] = [];
const sockets: Socket[] = [];

afterEach(async () => {
  for (const r of entrypoints.splice(0)) killDescendants(r.pid);
  killAll();
  for (const fake of fakes.splice(0)) await fake.stop();
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

interface Launched extends Running {
  /** Date.now() just before the spawn. */
  t0: number;
}

function launch(addr: string, extra: NodeJS.ProcessEnv = {}, app = APP): Launched {
  const env = cleanEnv({
    WAYPOINT_SERVER_ADDR: addr,
    WAYPOINT_DEPLOYMENT_ID: DEPLOYMENT,
    WAYPOINT_CEB_INVITE_TOKEN: INVITE,
    WAYPOINT_CEB_CONNECT_TIMEOUT: '1s',
    WAYPOINT_LOG_LEVEL: 'debug',
    ...extra,
  });
  const t0 = Date.now();
  const r = start(['sh', '-c', app], { env });
  entrypoints.push(r);
  return { ...r, t0 };
}

async function fake(script: Parameters<typeof startFake>[0] = {}, options: Parameters<typeof startFake>[1] = {}): Promise<FakeWaypoint> {
  const f = await startFake({ invites: { [INVITE]: TOKEN }, ...script }, options);
  fakes.push(f);
  return f;
}

/** A port with nothing listening on it (connections refused). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** A TCP server that accepts and then says nothing, ever; or hangs up at once. */
async function tcpPeer(behaviour: 'silent' | 'hang-up'): Promise<{ addr: string; accepted: () => number }> {
  let accepted = 0;
  const s = createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    if (behaviour === 'hang-up') socket.destroy();
    else sockets.push(socket);
  });
  servers.push(s);
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { addr: `127.0.0.1:${(s.address() as { port: number }).port}`, accepted: () => accepted };
}

/** When the app started (Date.now() scale), once it said so. */
async function appStartedAt(r: Running, timeoutMs = 10_000): Promise<number> {
  await r.waitForOutput(/started \d+\n/, { timeoutMs });
  return Number(BigInt(/started (\d+)\n/.exec(r.stdout().toString())![1]) / 1_000_000n);
}

const stderr = (r: Running) => r.stderr().toString();
const count = (text: string, needle: string | RegExp) =>
  typeof needle === 'string' ? text.split(needle).length - 1 : (text.match(new RegExp(needle, 'g')) ?? []).length;
const failedAttempts = (r: Running) => count(stderr(r), 'connection attempt failed') + count(stderr(r), 'cannot reach the server');

function appPid(r: Running): number {
  const pids = childPids(r.pid);
  expect(pids).toHaveLength(1);
  return pids[0];
}

describe('fail-open', () => {
  it('server down for good: the app starts when the connect timeout runs out, not before', async () => {
    const r = launch(`127.0.0.1:${await freePort()}`);
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeGreaterThanOrEqual(1000);
    expect(at - r.t0).toBeLessThan(2000);
    expect(stderr(r)).toContain('no config from the server in time; starting the app without it');
    // Refused connections were retried quickly within the window.
    expect(failedAttempts(r)).toBeGreaterThanOrEqual(3);
  });

  it.each([
    ['a TCP peer that accepts and never answers', async () => (await tcpPeer('silent')).addr],
    ['a gRPC server that accepts calls and never answers them', async () => (await fake({ answer: false })).addr],
  ])('%s: the app starts at the timeout, nothing hangs', async (_, peer) => {
    const r = launch(await peer());
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeGreaterThanOrEqual(1000);
    expect(at - r.t0).toBeLessThan(2000);
    // Still supervising normally: a stop signal ends it promptly.
    await r.waitForOutput('tick 2\n');
    r.proc.kill('SIGTERM');
    const exit = await withDeadline(r.exited, 5000, 'the entrypoint to exit');
    expect(exit.code).toBe(143);
  });

  it('retries fast within the window, then with growing delays (no busy loop, no hidden reconnects)', async () => {
    const peer = await tcpPeer('hang-up');
    // A window long enough for a few fast retries even on a loaded machine, where loading the
    // connection alone can take half a second.
    const r = launch(peer.addr, { WAYPOINT_CEB_CONNECT_TIMEOUT: '1500ms' });
    await appStartedAt(r);
    const retriesAfterWindow = () => {
      const text = stderr(r);
      const after = text.slice(text.indexOf('no config from the server in time'));
      return [...after.matchAll(/retry_in_ms=(\d+)/g)].map((m) => Number(m[1]));
    };
    await waitFor(() => retriesAfterWindow().length >= 4, { timeoutMs: 15_000, what: () => 'four retries after the window' });
    const text = stderr(r);
    const before = text.slice(0, text.indexOf('no config from the server in time'));
    const fast = [...before.matchAll(/retry_in_ms=(\d+)/g)].map((m) => Number(m[1]));
    const loggedBeforeStart = fast.length;
    // The delay is chosen when an attempt fails, by the clock; the app's start is logged by the
    // window's own timer. On a loaded machine an attempt can fail just after the window ran out,
    // before that timer's turn: its delay, the slow policy's first, is then logged before the start.
    const atBoundary = fast.length > 0 && fast[fast.length - 1] > 200 ? [fast.pop()!] : [];
    expect(fast.length).toBeGreaterThanOrEqual(2);
    for (const d of fast) {
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(200);
    }
    const slow = [...atBoundary, ...retriesAfterWindow()];
    expect(slow[0]).toBeLessThanOrEqual(500);
    // Exponential with jitter in [base/2, base]: each delay is at least the previous one.
    for (let i = 1; i < slow.length; i++) expect(slow[i]).toBeGreaterThanOrEqual(slow[i - 1]);
    expect(slow[3]).toBeGreaterThanOrEqual(2000);
    // Every connection the peer saw is one of our logged attempts: grpc-js does not reconnect
    // on its own in between.
    expect(peer.accepted()).toBeLessThanOrEqual(loggedBeforeStart + retriesAfterWindow().length + 1);
    // The first failure after the window is reported once, the repeats only at debug.
    expect(count(stderr(r), 'warn: cannot reach the server')).toBe(1);
  });

  it('a server starting beside the app (refused at first) still configures its first start', async () => {
    const port = await freePort();
    const r = launch(`127.0.0.1:${port}`, { WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' });
    // The server comes up about a second later, after several refused attempts.
    await waitFor(() => failedAttempts(r) >= 6, { what: () => 'six refused attempts' });
    const f = await fake({}, { port });
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeLessThan(3000); // well before the 5 s timeout
    expect(at - f.startedAt).toBeLessThan(1000); // picked up within a fast retry or two
    expect(f.registrations()).toHaveLength(1);
    expect(f.registrations()[0].at).toBeLessThanOrEqual(at);
    expect(f.lastConfigSentAt).toBeLessThanOrEqual(at);
    expect(stderr(r)).toContain('config received count=1 env_vars=1');
    expect(stderr(r)).not.toContain('no config from the server in time');
    await r.waitForOutput('tick 3\n');
    expect(count(r.stdout().toString(), 'started')).toBe(1);
  });

  it('server up: the app starts with its config, long before the timeout', async () => {
    const f = await fake();
    const r = launch(f.addr, { WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' });
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeLessThan(1500);
    expect(f.registrations()[0].at).toBeLessThanOrEqual(at);
    expect(stderr(r)).toMatch(/debug: starting the app with its config after_ms=\d+/);
  });

  it('server started after the timeout: the instance registers later, the app is not restarted', async () => {
    const port = await freePort();
    const r = launch(`127.0.0.1:${port}`);
    await appStartedAt(r);
    await r.waitForOutput('cannot reach the server', { stream: 'stderr' });
    const pid = appPid(r);
    const f = await fake({}, { port });
    await waitFor(() => f.openInstances().length === 1, { timeoutMs: 15_000, what: () => 'the registration' });
    await waitFor(() => stderr(r).includes('config received count=1'), { what: () => 'the config' });
    expect(appPid(r)).toBe(pid);
    expect(count(r.stdout().toString(), 'started')).toBe(1);
  });

  it('server killed and restarted: the app is untouched, the instance re-registers with the same id', async () => {
    const f = await fake();
    const r = launch(f.addr);
    await appStartedAt(r);
    await waitFor(() => f.openInstances().length === 1, { what: () => 'the registration' });
    const instance = f.openInstances()[0];
    const pid = appPid(r);
    await f.stop();
    await r.waitForOutput('lost the server connection; reconnecting', { stream: 'stderr' });
    await waitFor(() => failedAttempts(r) >= 1, { what: () => 'a refused reconnect' });
    await f.start();
    await waitFor(() => f.openInstances().length === 1, { timeoutMs: 15_000, what: () => 're-registration' });
    expect(f.openInstances()).toEqual([instance]);
    expect(f.registrations().map((c) => (c.request as { instance_id: string }).instance_id)).toEqual([instance, instance]);
    expect(appPid(r)).toBe(pid);
    // stdout continuous: every tick, in order, none lost.
    await r.waitForOutput(/tick \d+\n[^]*tick \d+\n/);
    const ticks = [...r.stdout().toString().matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ticks).toEqual(ticks.map((_, i) => i + 1));
    expect(count(r.stdout().toString(), 'started')).toBe(1);
  });
});

describe('several servers (replicas)', () => {
  it('the first one down from the start: the app starts configured by the second, within the connect window', async () => {
    const down = `127.0.0.1:${await freePort()}`;
    const f = await fake({ config: { env_vars: [{ name: 'FROM_FAKE', static: 'second' }] } });
    const r = launch(`${down},${f.addr}`, {}, 'echo "FROM_FAKE=$FROM_FAKE"; sleep 30');
    await r.waitForOutput('FROM_FAKE=second\n');
    expect(f.openInstances()).toHaveLength(1);
    await r.waitForOutput(`connected to the server server=${f.addr}`, { stream: 'stderr' });
  });

  it('the server in use goes away: the instance moves to the other one, same id, the app untouched', async () => {
    const a = await fake();
    const b = await fake();
    const r = launch(`${a.addr},${b.addr}`);
    await appStartedAt(r);
    await waitFor(() => a.openInstances().length === 1, { what: () => 'the registration at the first server' });
    const instance = a.openInstances()[0];
    const pid = appPid(r);
    await a.stop();
    await waitFor(() => b.openInstances().length === 1, { timeoutMs: 20_000, what: () => 'the registration at the second server' });
    expect(b.openInstances()).toEqual([instance]);
    await r.waitForOutput(`connected to the server server=${b.addr}`, { stream: 'stderr' });
    expect(appPid(r)).toBe(pid);
    expect(count(r.stdout().toString(), 'started')).toBe(1);
    // And back: the second one gone too, the first one up again.
    await a.start();
    await b.stop();
    await waitFor(() => a.openInstances().length === 1, { timeoutMs: 20_000, what: () => 'the registration back at the first server' });
    expect(a.openInstances()).toEqual([instance]);
    expect(appPid(r)).toBe(pid);
  });

  it('every server down: one warning per outage, not one per server', async () => {
    const r = launch(`127.0.0.1:${await freePort()},127.0.0.1:${await freePort()}`, { WAYPOINT_CEB_CONNECT_TIMEOUT: '300ms' });
    await appStartedAt(r);
    await waitFor(() => failedAttempts(r) >= 4, { timeoutMs: 15_000, what: () => 'four failed attempts' });
    expect(count(stderr(r), 'warn: cannot reach the server')).toBe(1);
  });
});

describe('server required', () => {
  it('the app waits while the server is down and starts once it is up', async () => {
    const port = await freePort();
    const r = launch(`127.0.0.1:${port}`, { WAYPOINT_CEB_SERVER_REQUIRED: '1', WAYPOINT_CEB_CONNECT_TIMEOUT: '500ms' });
    // Past the connect timeout, still retrying, and the app still not started.
    await waitFor(() => failedAttempts(r) >= 6 && Date.now() - r.t0 > 1500, { timeoutMs: 15_000, what: () => 'retries past the timeout' });
    expect(r.stdout().toString()).not.toContain('started');
    const f = await fake({}, { port });
    const at = await appStartedAt(r);
    expect(f.registrations()[0].at).toBeLessThanOrEqual(at);
    // While the app waits the retries stay frequent: at most a 2 s cap.
    for (const m of stderr(r).matchAll(/retry_in_ms=(\d+)/g)) expect(Number(m[1])).toBeLessThanOrEqual(2000);
  });

  it.each([
    ['server required', { WAYPOINT_CEB_SERVER_REQUIRED: '1' }],
    ['within the connect window', { WAYPOINT_CEB_CONNECT_TIMEOUT: '20s' }],
  ])('SIGTERM while waiting for the server (%s): exits 143 promptly, the app never started', async (_, extra) => {
    const r = launch(`127.0.0.1:${await freePort()}`, extra);
    await waitFor(() => failedAttempts(r) >= 2, { what: () => 'two refused attempts' });
    const sent = Date.now();
    r.proc.kill('SIGTERM');
    const exit = await withDeadline(r.exited, 5000, 'the entrypoint to exit');
    expect(exit.code).toBe(143);
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(r.stdout().toString()).toBe('');
  });
});

describe('session', () => {
  it('exchanges the invite once and sends the auth and version metadata on every call', async () => {
    const f = await fake();
    const r = launch(f.addr, { WAYPOINT_CEB_DISABLE_EXEC: '1' });
    await appStartedAt(r);
    await waitFor(() => f.registrations().length === 1, { what: () => 'the registration' });
    const methods = f.calls.map((c) => c.method);
    expect(methods.filter((m) => m !== 'EntrypointLogStream')).toEqual(['GetVersionInfo', 'ConvertInviteToken', 'EntrypointConfig']);
    expect(f.calls[1].request).toEqual({ token: INVITE });
    for (const call of f.calls) {
      expect(call.metadata).toMatchObject({
        'client-api-protocol': '1,1',
        'client-entrypoint-protocol': '1,1',
        'client-version': VERSION,
        'wp-inline-keepalives': 'true',
      });
    }
    // No token before we have one; the exchanged one, in both headers, after.
    expect(f.calls[0].metadata.authorization).toBeUndefined();
    expect(f.calls[1].metadata.authorization).toBeUndefined();
    const registration = f.registrations()[0];
    expect(registration.metadata.authorization).toBe(TOKEN);
    expect(registration.metadata['waypoint-token']).toBe(TOKEN);
    expect(registration.request).toEqual({
      deployment_id: DEPLOYMENT,
      instance_id: expect.stringMatching(ULID),
      type: 'LONG_RUNNING',
      disable_exec: true,
    });
    expect(stderr(r)).toContain(`instance_id=${(registration.request as { instance_id: string }).instance_id}`);
  });

  it('each process start is a new instance', async () => {
    const f = await fake();
    const a = launch(f.addr);
    const b = launch(f.addr);
    await waitFor(() => f.openInstances().length === 2, { what: () => 'two registrations' });
    await Promise.all([appStartedAt(a), appStartedAt(b)]);
    const [x, y] = f.openInstances();
    expect(x).not.toBe(y);
  });

  it('a token the server no longer accepts is exchanged again from the invite', async () => {
    const f = await fake();
    const r = launch(f.addr);
    await appStartedAt(r);
    await waitFor(() => f.openInstances().length === 1, { what: () => 'the registration' });
    // The server forgets the token (a new signing key, say): the next registration with it is
    // refused, and the entrypoint must fall back to its invite.
    await f.stop();
    f.script.invites = { [INVITE]: 'token-rotated-secret' };
    await f.start();
    await waitFor(() => f.openInstances().length === 1, { timeoutMs: 15_000, what: () => 're-registration' });
    const registrations = f.registrations();
    expect(registrations.at(-1)!.metadata.authorization).toBe('token-rotated-secret');
    expect(f.calls.filter((c) => c.method === 'ConvertInviteToken')).toHaveLength(2);
    expect(registrations.some((c) => c.metadata.authorization === TOKEN)).toBe(true);
  });

  it('a refused registration keeps the token: the invite is exchanged once, the refusal logged once', async () => {
    const f = await fake({ denyRegistration: true });
    const r = launch(f.addr);
    await appStartedAt(r);
    await waitFor(() => f.registrations().length >= 3, { timeoutMs: 15_000, what: () => 'three registration attempts' });
    expect(f.calls.filter((c) => c.method === 'ConvertInviteToken')).toHaveLength(1);
    for (const c of f.registrations()) expect(c.metadata.authorization).toBe(TOKEN);
    expect(count(stderr(r), 'error: the server refused us')).toBe(1);
    expect(stderr(r)).toContain('PERMISSION_DENIED: not your deployment');
  });

  it('neither the invite nor the entrypoint token reaches the app or a log line', async () => {
    const f = await fake();
    const r = launch(f.addr, { WAYPOINT_LOG_LEVEL: 'trace' }, `env; ${APP}`);
    await appStartedAt(r);
    await waitFor(() => stderr(r).includes('config received'), { what: () => 'the config' });
    await r.waitForOutput('tick 2\n');
    const out = r.stdout().toString();
    expect(out).toContain(`WAYPOINT_DEPLOYMENT_ID=${DEPLOYMENT}`); // the env did get printed
    for (const secret of [INVITE, TOKEN]) {
      expect(out).not.toContain(secret);
      expect(stderr(r)).not.toContain(secret);
    }
    expect(out).not.toContain('WAYPOINT_CEB_INVITE_TOKEN');
  });

  it('a server whose entrypoint protocol range excludes ours: error logged once, the app runs', async () => {
    const f = await fake({ entrypoint: { minimum: 5, current: 5 } });
    const r = launch(f.addr);
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeGreaterThanOrEqual(1000); // no config: fail-open at the timeout
    await waitFor(() => f.calls.filter((c) => c.method === 'GetVersionInfo').length >= 3, {
      timeoutMs: 15_000,
      what: () => 'three version checks',
    });
    const errors = stderr(r).split('\n').filter((l) => l.includes('error: incompatible server'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('entrypoint protocol 5 (minimum 5, current 5)');
    expect(errors[0]).toContain('this entrypoint speaks 1 (minimum 1, current 1)');
    expect(f.registrations()).toHaveLength(0);
    expect(f.calls.filter((c) => c.method === 'ConvertInviteToken')).toHaveLength(0);
    await r.waitForOutput('tick 2\n');
  });

  it('inline keepalives on the config stream are dropped, never applied as a config', async () => {
    const f = await fake({
      keepalivesFirst: 2,
      configDelayMs: 300,
      config: { env_vars: [{ name: 'A', static: '1' }] },
    });
    const r = launch(f.addr, { WAYPOINT_LOG_LEVEL: 'trace', WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' });
    const at = await appStartedAt(r);
    // The keepalives came first and did not count as the first config.
    expect(f.lastConfigSentAt).toBeLessThanOrEqual(at);
    expect(count(stderr(r), 'inline keepalive dropped')).toBe(2);
    expect(stderr(r)).toContain('config received count=1 env_vars=1');
    f.sendKeepalive();
    await waitFor(() => count(stderr(r), 'inline keepalive dropped') === 3, { what: () => 'the third keepalive' });
    f.push({ env_vars: [{ name: 'A', static: '1' }, { name: 'B', static: '2' }] });
    await waitFor(() => stderr(r).includes('config received count=2 env_vars=2'), { what: () => 'the pushed config' });
    expect(stderr(r)).not.toMatch(/config received .*env_vars=0/);
  });

  it('holds no listening socket while connected', async () => {
    const f = await fake();
    const r = launch(f.addr);
    await appStartedAt(r);
    await waitFor(() => f.openInstances().length === 1, { what: () => 'the registration' });
    const held = socketFds(r.pid);
    expect(held.some((s) => s.tcpState === 'ESTABLISHED')).toBe(true); // the connection itself
    expect(held.filter((s) => s.listening || s.tcpState === 'LISTEN')).toEqual([]);
  });
});

describe('TLS', () => {
  let dir: string;
  let cert: Buffer;
  let key: Buffer;

  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wp-tls-'));
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1',
      '-subj', '/CN=localhost',
      '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout', path.join(dir, 'key.pem'),
      '-out', path.join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cert = readFileSync(path.join(dir, 'cert.pem'));
    key = readFileSync(path.join(dir, 'key.pem'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each([
    ['with WAYPOINT_SERVER_TLS_CA_FILE', () => ({ WAYPOINT_SERVER_TLS: '1', WAYPOINT_SERVER_TLS_CA_FILE: path.join(dir, 'cert.pem') })],
    ['with WAYPOINT_SERVER_TLS_SKIP_VERIFY', () => ({ WAYPOINT_SERVER_TLS: '1', WAYPOINT_SERVER_TLS_SKIP_VERIFY: '1' })],
  ])('a self-signed server: connects %s', async (_, env) => {
    const f = await fake({}, { tls: { cert, key } });
    const r = launch(f.addr, { ...env(), WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' });
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeLessThan(2500);
    expect(f.registrations()).toHaveLength(1);
    expect(f.registrations()[0].metadata.authorization).toBe(TOKEN);
    // Node's DEP0123 (a TLS server name that is an IP address) must not reach our stderr.
    expect(stderr(r)).not.toMatch(/Warning|\(node:\d+\)/);
  });

  it('a self-signed server without the CA: refused, logged, the app still runs', async () => {
    const f = await fake({}, { tls: { cert, key } });
    const r = launch(f.addr, { WAYPOINT_SERVER_TLS: '1' });
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeGreaterThanOrEqual(1000);
    await r.waitForOutput('warn: cannot reach the server', { stream: 'stderr' });
    expect(stderr(r)).toMatch(/self[- ]signed certificate/i);
    expect(f.registrations()).toHaveLength(0);
    await r.waitForOutput('tick 2\n');
  });

  it('a plaintext client against a TLS server fails the same way', async () => {
    const f = await fake({}, { tls: { cert, key } });
    const r = launch(f.addr);
    await appStartedAt(r);
    expect(f.registrations()).toHaveLength(0);
  });

  it('a missing CA file: one clear error, no connection attempt, the app starts at once', async () => {
    const missing = path.join(dir, 'nope.pem');
    const r = launch('127.0.0.1:1', { WAYPOINT_SERVER_TLS_CA_FILE: missing, WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' });
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeLessThan(2500);
    expect(stderr(r)).toContain(`error: cannot read WAYPOINT_SERVER_TLS_CA_FILE=${missing}: ENOENT; the server connection is off`);
    expect(stderr(r)).not.toContain('attempt');
    await r.waitForOutput('tick 2\n');
  });

  it('a missing CA file with the server required: exits 1 instead of waiting forever', async () => {
    const r = launch('127.0.0.1:1', { WAYPOINT_SERVER_TLS_CA_FILE: path.join(dir, 'nope.pem'), WAYPOINT_CEB_SERVER_REQUIRED: '1' });
    const exit = await withDeadline(r.exited, 5000, 'the entrypoint to exit');
    expect(exit.code).toBe(1);
    expect(stderr(r)).toContain('the server is required but cannot be connected to');
    expect(r.stdout().toString()).toBe('');
  });
});

describe('what gets loaded', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wp-modules-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the bundle with a recorder preloaded; returns what it loaded. */
  async function loaded(name: string, env: NodeJS.ProcessEnv): Promise<{ builtins: string[]; files: string[] }> {
    const out = path.join(dir, `${name}.json`);
    const r = start([`--require=${path.join(FIXTURES, 'record-modules.cjs')}`, path.join(ROOT, 'dist/entrypoint.cjs'), 'true'], {
      bin: process.execPath,
      env: cleanEnv({ RECORD_MODULES_TO: out, ...env }),
    });
    const exit = await withDeadline(r.exited, 10_000, 'the entrypoint to exit');
    expect(exit.code).toBe(0);
    return JSON.parse(readFileSync(out, 'utf8'));
  }

  it('disabled mode loads neither gRPC nor the connection; connected mode does (control)', async () => {
    const disabled = await loaded('disabled', { WAYPOINT_CEB_DISABLE: '1', WAYPOINT_SERVER_ADDR: '127.0.0.1:1' });
    expect(disabled.builtins).not.toContain('http2');
    expect(disabled.builtins).not.toContain('tls');
    expect(disabled.files.some((f) => f.endsWith('connection.cjs'))).toBe(false);
    expect(disabled.files.filter((f) => /(dynamic|source-[a-z-]+)\.cjs$/.test(f))).toEqual([]);
    const unset = await loaded('unset', {});
    expect(unset.builtins).not.toContain('http2');

    const connected = await loaded('connected', { WAYPOINT_SERVER_ADDR: '127.0.0.1:1', WAYPOINT_CEB_CONNECT_TIMEOUT: '100ms' });
    expect(connected.builtins).toContain('http2');
    expect(connected.files.some((f) => f.endsWith('connection.cjs'))).toBe(true);
  });

  it('a static-only config loads no dynamic config code; a dynamic var loads it and only its own source', async () => {
    const chunks = (files: string[]) => files.filter((f) => /(dynamic|source-[a-z-]+)\.cjs$/.test(f)).map((f) => path.basename(f)).sort();
    const env = (f: FakeWaypoint) => ({
      WAYPOINT_SERVER_ADDR: f.addr,
      WAYPOINT_DEPLOYMENT_ID: DEPLOYMENT,
      WAYPOINT_CEB_INVITE_TOKEN: INVITE,
      WAYPOINT_CEB_CONNECT_TIMEOUT: '5s',
    });
    const staticOnly = await fake({ config: { env_vars: [{ name: 'A', static: 'a' }] } });
    expect(chunks((await loaded('static', env(staticOnly))).files)).toEqual([]);
    const withNull = await fake({ config: { env_vars: [{ name: 'A', dynamic: { from: 'null', config: { static_value: 'a' } } }] } });
    expect(chunks((await loaded('null', env(withNull))).files)).toEqual(['dynamic.cjs']);
    // A source of its own chunk: that one is asked for (built or not), no other.
    const withVault = await fake({ config: { env_vars: [{ name: 'A', dynamic: { from: 'vault', config: { path: 'x' } } }] } });
    const vault = chunks((await loaded('vault', env(withVault))).files);
    expect(vault[0]).toBe('dynamic.cjs');
    expect(vault.slice(1).every((c) => c === 'source-vault.cjs')).toBe(true);
  });
});
