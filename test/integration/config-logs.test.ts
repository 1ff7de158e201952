// Config and logs end to end: the entrypoint (the bundle) in front of a real app, the reference
// server (`waypoint-ctl server run`), and the operator's `waypoint-ctl config` and `logs`.
// What an operator does and sees: a var set restarts the app with it (once), the same value
// again does not, unset removes it, app scope beats global, internal vars interpolate, files
// arrive with their signal; the app's lines show in `logs --json` and, with -f, at once; a
// token of another deployment cannot ship logs for this instance.
import { readFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { convertInviteToken, logEntry, md, openLogStream, waypointClient } from '../helpers/grpc.js';
import { childPids, killDescendants } from '../helpers/proc.js';
import { cleanEnv, killAll, type Running, start, waitFor } from '../helpers/run.js';
import { startServer, stopServers, type TestServer } from '../helpers/server.js';

/** At each start: its pid and env between markers; USR2 reported; USR1 prints a numbered ping. */
const APP = [
  'trap \'echo "usr2 $$"\' USR2',
  'n=0; trap \'n=$((n+1)); echo "ping $n"\' USR1',
  'echo "start $$"',
  'env | sort | sed "s/^/env: /"',
  'echo "ready $$"',
  'while :; do sleep 0.02; done',
].join('; ');

const entrypoints: Running[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-config-logs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const r of entrypoints.splice(0)) killDescendants(r.pid);
  killAll();
  await stopServers();
});

interface Setup {
  server: TestServer;
  r: Running;
  deploymentId: string;
}

async function setup(app = 'shop'): Promise<Setup> {
  const server = await startServer();
  const { deploymentId, inviteToken } = await server.createDeployment(app);
  const r = launch(server, deploymentId, inviteToken);
  await startCount(r, 1);
  await waitFor(async () => (await server.instances(app)).length === 1, { what: () => 'the instance registered' });
  return { server, r, deploymentId };
}

function launch(server: TestServer, deploymentId: string, inviteToken: string): Running {
  const r = start(['sh', '-c', APP], {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
      WAYPOINT_CEB_CONNECT_TIMEOUT: '5s',
      WAYPOINT_CEB_STOP_TIMEOUT: '5s',
      WAYPOINT_LOG_LEVEL: 'debug',
    }),
    cwd: dir,
  });
  entrypoints.push(r);
  return r;
}

interface Start {
  pid: number;
  env: Record<string, string>;
}

function starts(r: Running): Start[] {
  const found: Start[] = [];
  for (const m of r.stdout().toString().matchAll(/^start (\d+)\n((?:env: .*\n)*)ready \1$/gm)) {
    const env: Record<string, string> = {};
    for (const line of m[2].split('\n').filter(Boolean)) {
      const [name, ...value] = line.slice('env: '.length).split('=');
      env[name] = value.join('=');
    }
    found.push({ pid: Number(m[1]), env });
  }
  return found;
}

async function startCount(r: Running, n: number): Promise<Start> {
  await waitFor(() => starts(r).length >= n, {
    timeoutMs: 15_000,
    what: () => `${n} start(s); stderr: ${r.stderr().toString().slice(-800)}`,
  });
  return starts(r)[n - 1];
}

async function ctl(server: TestServer, ...args: string[]): Promise<string> {
  const res = await server.ctl(args);
  expect(res.code, `waypoint-ctl ${args.join(' ')}: ${res.stderr.toString()}`).toBe(0);
  return res.stdout.toString();
}

const configsReceived = (r: Running) => (r.stderr().toString().match(/debug: config received/g) ?? []).length;

describe('config from waypoint-ctl', () => {
  it('set restarts the app once with the var; the same value again does not; unset removes it', async () => {
    const { server, r } = await setup();
    const first = starts(r)[0];
    expect(first.env).not.toHaveProperty('COLOR');

    await ctl(server, 'config', 'set', '--app', 'shop', 'COLOR=red');
    const second = await startCount(r, 2);
    expect(second.env.COLOR).toBe('red');
    expect(second.pid).not.toBe(first.pid);

    // The same value again: the server has nothing new to push, the app runs on as it is.
    const before = configsReceived(r);
    expect(await ctl(server, 'config', 'set', '--app', 'shop', 'COLOR=red')).toContain('no connected instance affected');
    expect(childPids(r.pid)).toEqual([second.pid]);
    // A global var the app does not override does reach it: a push, and a restart for it.
    await ctl(server, 'config', 'set', 'SHARED=1');
    const withShared = await startCount(r, 3);
    expect(withShared.env).toMatchObject({ COLOR: 'red', SHARED: '1' });
    expect(configsReceived(r)).toBe(before + 1);
    expect(childPids(r.pid)).toEqual([withShared.pid]);

    await ctl(server, 'config', 'unset', '--app', 'shop', 'COLOR');
    const fourth = await startCount(r, 4);
    expect(fourth.env).not.toHaveProperty('COLOR');
    expect(fourth.env.SHARED).toBe('1');
  });

  it('an app var wins over a global one of the same name; unset the app one and the global shows', async () => {
    const { server, r } = await setup();
    await ctl(server, 'config', 'set', 'TIER=global', 'ONLY_GLOBAL=g');
    expect((await startCount(r, 2)).env).toMatchObject({ TIER: 'global', ONLY_GLOBAL: 'g' });
    await ctl(server, 'config', 'set', '--app', 'shop', 'TIER=app');
    expect((await startCount(r, 3)).env).toMatchObject({ TIER: 'app', ONLY_GLOBAL: 'g' });
    await ctl(server, 'config', 'unset', '--app', 'shop', 'TIER');
    expect((await startCount(r, 4)).env.TIER).toBe('global');
  });

  it('internal vars interpolate into others and never reach the app themselves', async () => {
    const { server, r } = await setup();
    await ctl(server, 'config', 'set', '--app', 'shop', '--internal', 'DB_PASS=s3cret');
    await ctl(server, 'config', 'set', '--app', 'shop', 'DATABASE_URL=postgres://shop:${config.internal.DB_PASS}@db/shop');
    await waitFor(() => starts(r).at(-1)!.env.DATABASE_URL === 'postgres://shop:s3cret@db/shop', {
      timeoutMs: 15_000,
      what: () => `a start with DATABASE_URL; stderr: ${r.stderr().toString().slice(-500)}`,
    });
    for (const s of starts(r)) expect(s.env).not.toHaveProperty('DB_PASS');
  });

  it('a file is written (content, mode 0644) and the app gets the file signal, without a restart', async () => {
    const { server, r } = await setup();
    const pid = starts(r)[0].pid;
    const local = path.join(dir, 'local-app.yml');
    writeFileSync(local, 'port: 8080\n');
    await ctl(server, 'config', 'file-signal', '--app', 'shop', 'SIGUSR2');
    await ctl(server, 'config', 'set', '--app', 'shop', '--file', `conf/app.yml=@${local}`);
    await r.waitForOutput(`usr2 ${pid}\n`, { timeoutMs: 10_000 });
    const written = path.join(dir, 'conf/app.yml');
    expect(readFileSync(written, 'utf8')).toBe('port: 8080\n');
    expect(statSync(written).mode & 0o777).toBe(0o644);
    expect(starts(r)).toHaveLength(1);
    expect(childPids(r.pid)).toEqual([pid]);
  });

  it('WAYPOINT_LOG_LEVEL set for the app changes our own level, without a restart', async () => {
    const { server, r } = await setup();
    await ctl(server, 'config', 'set', '--app', 'shop', 'WAYPOINT_LOG_LEVEL=warn');
    await r.waitForOutput('log level changed by the config level=warn', { stream: 'stderr', timeoutMs: 10_000 });
    const at = r.stderr().length;
    await ctl(server, 'config', 'set', '--app', 'shop', 'OTHER=1'); // a restart: info lines, now hidden
    await startCount(r, 2);
    expect(r.stderr().subarray(at).toString()).not.toMatch(/(debug|info): /);
  });
});

describe('logs at the server', () => {
  interface JsonLine {
    instance_id: string;
    app: string;
    timestamp: string;
    source: 'app' | 'entrypoint';
    line: string;
  }
  const parse = (text: string): JsonLine[] => text.split('\n').filter(Boolean).map((l) => JSON.parse(l));

  it('logs --json shows the app lines with the instance id, source and monotonic timestamps, and ours', async () => {
    const { server, r } = await setup();
    const [instance] = await server.instances('shop');
    let lines: JsonLine[] = [];
    await waitFor(async () => {
      lines = parse(await ctl(server, 'logs', '--app', 'shop', '--json'));
      return lines.some((l) => l.line.startsWith('ready '));
    }, { what: () => `the app's lines in logs --json: ${JSON.stringify(lines.slice(-3))}` });
    const app = lines.filter((l) => l.source === 'app');
    expect(app[0].line).toMatch(/^start \d+$/); // the server stripped the newline
    expect(app.every((l) => l.instance_id === instance.id && l.app === 'shop')).toBe(true);
    const times = lines.map((l) => l.timestamp);
    expect([...times].sort()).toEqual(times);
    expect(lines.some((l) => l.source === 'entrypoint' && l.line.includes('info: connected to the server'))).toBe(true);
    const ours = parse(await ctl(server, 'logs', '--app', 'shop', '--json', '--source', 'entrypoint'));
    expect(ours.length).toBeGreaterThan(0);
    expect(ours.every((l) => l.source === 'entrypoint')).toBe(true);
    expect(r.stdout().toString()).toContain('ready ');
  });

  it('logs -f shows a new line of the app within a second', async () => {
    const { server, r } = await setup();
    const follow = server.startCtl(['logs', '-f', '--json', '--app', 'shop']);
    await follow.waitForOutput('"ready ', { timeoutMs: 10_000 });
    const appPid = starts(r)[0].pid;
    for (const n of [1, 2]) {
      const sent = Date.now();
      process.kill(appPid, 'SIGUSR1');
      await follow.waitForOutput(`"line":"ping ${n}"`, { timeoutMs: 5000 });
      expect(Date.now() - sent).toBeLessThan(1000);
    }
    follow.proc.kill('SIGINT');
  });

  it('after a server restart shipping resumes, and the lost connection is told once', async () => {
    const { server, r } = await setup('shop');
    await server.restart({ signal: 'SIGTERM' });
    await waitFor(() => (r.stderr().toString().match(/connected to the server/g) ?? []).length === 2, {
      timeoutMs: 15_000,
      what: () => `a reconnect; stderr: ${r.stderr().toString().slice(-600)}`,
    });
    process.kill(starts(r)[0].pid, 'SIGUSR1');
    await waitFor(async () => (await ctl(server, 'logs', '--app', 'shop')).includes('ping 1'), { what: () => 'the ping at the server' });
    const stderr = r.stderr().toString();
    expect(stderr.match(/warn: lost the server connection/g)).toHaveLength(1);
    // The log stream went down with the connection: that is not news of its own.
    expect(stderr).not.toMatch(/warn: .*log stream/);
  });

  it('a token of another deployment cannot ship logs for this instance', async () => {
    const { server } = await setup('shop');
    const [victim] = await server.instances('shop');
    const other = await server.createDeployment('other');
    const wp = waypointClient(server.addr);
    try {
      const { token } = await convertInviteToken(wp, other.inviteToken, md({ apiProtocol: '1,1', entrypointProtocol: '1,1' }));
      const stream = openLogStream(wp, md({ token, apiProtocol: '1,1', entrypointProtocol: '1,1' }));
      stream.send({ instance_id: victim.id, lines: [logEntry('forged line\n')] });
      const err = await stream.end();
      expect(err?.code).toBe(7); // PERMISSION_DENIED
    } finally {
      wp.close();
    }
    const lines = parse(await ctl(server, 'logs', '--instance', victim.id, '--json'));
    expect(lines.some((l) => l.line.includes('forged'))).toBe(false);
    expect(lines.some((l) => l.line.startsWith('ready '))).toBe(true);
  });
});
