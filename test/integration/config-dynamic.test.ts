// Dynamic config end to end (issue 15): the reference server (`waypoint-ctl server run`, at
// debug), the operator's `waypoint-ctl config source` / `config set --dynamic` / `config status`,
// and a real entrypoint (the bundle) resolving with the `null` source in front of a real app.
// What an operator sees: values reach the app's env (an internal one interpolated into a static
// var), the app's source settings win over the global ones, a changed value restarts the app
// once, failures are one log line each and show in `config status` while the app runs on, a
// source whose module does not load is such a failure, and a source's secret is printed masked
// and is in no log line of either program. With Vault (the loopback fake of its HTTP API): the
// backend going down keeps the app on its last value with no restart, a new value restarts it
// once, and the values are in no log line and not in the server's database.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeVault } from '../helpers/fake-vault.js';
import { childPids, killDescendants } from '../helpers/proc.js';
import { cleanEnv, killAll, type Running, start, waitFor } from '../helpers/run.js';
import { startServer, stopServers, type TestServer } from '../helpers/server.js';

const APP = ['echo "start $$"', 'env | sort | sed "s/^/env: /"', 'echo "ready $$"', 'while :; do sleep 0.02; done'].join('; ');
const SECRET = 'hvs.CAESIdynamicSourceSecret0123456789';

const entrypoints: Running[] = [];
const vaults: FakeVault[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-config-dynamic-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const r of entrypoints.splice(0)) killDescendants(r.pid);
  killAll();
  await stopServers();
  for (const v of vaults.splice(0)) await v.close();
});

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

async function startCount(r: Running, n: number, timeoutMs = 15_000): Promise<Start> {
  await waitFor(() => starts(r).length >= n, { timeoutMs, what: () => `${n} start(s); stderr: ${r.stderr().toString().slice(-800)}` });
  return starts(r)[n - 1];
}

async function ctl(server: TestServer, ...args: string[]): Promise<string> {
  const res = await server.ctl(args);
  expect(res.code, `waypoint-ctl ${args.join(' ')}: ${res.stderr.toString()}`).toBe(0);
  return res.stdout.toString();
}

interface VarRow {
  name: string;
  source: string;
  ok: boolean;
  message: string | null;
  resolved_at: string | null;
}

async function status(server: TestServer): Promise<VarRow[]> {
  const out = JSON.parse(await ctl(server, 'config', 'status', '--app', 'shop', '--json')) as { instances: Array<{ vars: VarRow[] }> };
  return out.instances.flatMap((i) => i.vars);
}

const lines = (text: string, part: string) => text.split('\n').filter((l) => l.includes(part));

describe('dynamic config with the null source', () => {
  it('values reach the env (internal interpolated, app settings winning), a change restarts once, failures are reported once and the app runs on', async () => {
    const server = await startServer({ args: ['--log-level', 'debug'] });
    await ctl(server, 'config', 'source', 'set', 'null', 'values.k=global', `token=${SECRET}`);
    await ctl(server, 'config', 'source', 'set', '--app', 'shop', 'null', 'values.k=app', `token=${SECRET}`);
    await ctl(server, 'config', 'set', '--app', 'shop', '--dynamic', 'null', 'FROM_KEY', 'config_key=k');
    await ctl(server, 'config', 'set', '--app', 'shop', '--dynamic', 'null', '--internal', 'PASS', 'static_value=p@ss');
    await ctl(server, 'config', 'set', '--app', 'shop', 'URL=db://u:${config.internal.PASS}@h');
    // Consul's http_auth (user:password) is a secret too; `config source unset` takes a source away.
    await ctl(server, 'config', 'source', 'set', '--app', 'shop', 'consul', 'address=127.0.0.1:1', `http_auth=ops:${SECRET}`);
    expect(await ctl(server, 'config', 'source', 'get', '--app', 'shop')).toMatch(/consul\s+app\s+address=127\.0\.0\.1:1 http_auth=ops:…/);
    await ctl(server, 'config', 'source', 'unset', '--app', 'shop', 'consul');
    expect(await ctl(server, 'config', 'source', 'get', '--app', 'shop')).not.toContain('consul');
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const r = launch(server, deploymentId, inviteToken);

    // The first start has the values: the first resolution is waited for.
    const first = await startCount(r, 1);
    expect(first.env).toMatchObject({ FROM_KEY: 'app', URL: 'db://u:p@ss@h' });
    expect(first.env).not.toHaveProperty('PASS');

    // What the operator sees: the var with its source, the settings with the secret masked.
    expect(lines(await ctl(server, 'config', 'get', '--app', 'shop'), 'FROM_KEY')[0]).toMatch(/FROM_KEY\s+app\s+static\s+dynamic: null config_key=k/);
    const sources = await ctl(server, 'config', 'source', 'get', '--app', 'shop');
    expect(sources).toMatch(/null\s+app\s+token=hvs\.… values\.k=app/);
    expect(sources).toMatch(/null\s+global \(overridden\)\s+token=hvs\.… values\.k=global/);
    await waitFor(async () => (await status(server)).length === 2, { what: () => 'the status reported' });
    const ok = await status(server);
    expect(ok.map((v) => [v.name, v.source, v.ok, v.message])).toEqual([
      ['FROM_KEY', 'null', true, null],
      ['PASS', 'null', true, null],
    ]);
    expect(ok.every((v) => v.resolved_at !== null)).toBe(true);
    expect(await ctl(server, 'config', 'status', '--app', 'shop')).toMatch(/FROM_KEY\s+null\s+ok\s+20\d\d-/);

    // A changed value (the app's source settings): one restart with it.
    await ctl(server, 'config', 'source', 'set', '--app', 'shop', 'null', 'values.k=app2', `token=${SECRET}`);
    const second = await startCount(r, 2);
    expect(second.env.FROM_KEY).toBe('app2');
    // The next change restarts once more: nothing came in between.
    await ctl(server, 'config', 'set', '--app', 'shop', 'OTHER=1');
    const third = await startCount(r, 3);
    expect(third.env).toMatchObject({ OTHER: '1', FROM_KEY: 'app2' });
    expect(starts(r)).toHaveLength(3);

    // A var whose key is missing, and one of a source whose module this build does not have:
    // each one log line and a status error; the app runs on, untouched.
    await ctl(server, 'config', 'set', '--app', 'shop', '--dynamic', 'null', 'MISSING', 'config_key=nope');
    await ctl(server, 'config', 'set', '--app', 'shop', '--dynamic', 'vault', 'SECRET_VAR', 'path=secret/data/db', 'key=/data/password');
    await waitFor(async () => (await status(server)).filter((v) => !v.ok).length === 2, { timeoutMs: 10_000, what: () => 'two errors in the status' });
    const failed = (await status(server)).filter((v) => !v.ok);
    expect(failed.map((v) => [v.name, v.source])).toEqual([
      ['MISSING', 'null'],
      ['SECRET_VAR', 'vault'],
    ]);
    expect(failed[0].message).toBe('the null source has no value for config_key "nope"');
    expect(failed[1].message).not.toBe('');
    const table = await ctl(server, 'config', 'status', '--app', 'shop');
    expect(table).toMatch(/MISSING\s+null\s+error: the null source has no value for config_key "nope"\s+never/);
    const stderr = r.stderr().toString();
    expect(lines(stderr, 'dynamic config var MISSING')).toHaveLength(1);
    expect(lines(stderr, 'dynamic config var MISSING')[0]).toContain(
      'warn: dynamic config var MISSING from the null source failed: the null source has no value for config_key "nope"; the variable is left out',
    );
    expect(lines(stderr, 'dynamic config var SECRET_VAR from the vault source failed')).toHaveLength(1);
    expect(starts(r)).toHaveLength(3);
    expect(childPids(r.pid)).toEqual([third.pid]);
    // The failure reached the server as an ENTRYPOINT line, like every warning of ours.
    await waitFor(async () => (await ctl(server, 'logs', '--app', 'shop')).includes('dynamic config var MISSING'), { what: () => 'the warning in the logs' });

    // The secret of the source's settings: in no log line of either program (both at debug).
    expect(r.stderr().toString()).not.toContain(SECRET.slice(4));
    expect(server.proc.stderr().toString()).not.toContain(SECRET.slice(4));
    expect(server.proc.stderr().toString()).toContain('config source set');
    // One operator's session end to end (about 25 s here: a dozen ctl calls, three starts).
  }, 90_000);

  it('a var set with values the source lacks at first and gets later: left out, then the app restarts with it', async () => {
    const server = await startServer();
    await ctl(server, 'config', 'set', '--app', 'shop', '--dynamic', 'null', 'LATE', 'config_key=late');
    await ctl(server, 'config', 'set', '--app', 'shop', 'PLAIN=p');
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const r = launch(server, deploymentId, inviteToken);
    const first = await startCount(r, 1);
    expect(first.env.PLAIN).toBe('p');
    expect(first.env).not.toHaveProperty('LATE');
    await ctl(server, 'config', 'source', 'set', 'null', 'values.late=here');
    const second = await startCount(r, 2);
    expect(second.env.LATE).toBe('here');
  });
});

describe('dynamic config with Vault (a loopback fake of its HTTP API)', () => {
  it('the value reaches the app; Vault down: the app keeps it with no restart and the status says why; a new value restarts once; the value is in no log line and not in the server\'s database', async () => {
    const PASSWORD = 'first-Pa55word-from-vault';
    const NEXT = 'second-Pa55word-from-vault';
    const VAULT_TOKEN = 'hvs.e2eVaultTokenNotForLogs0123';
    const vault = await new FakeVault().start();
    vaults.push(vault);
    vault.addToken(VAULT_TOKEN);
    vault.kv2.set('db', { password: PASSWORD });
    const server = await startServer({ args: ['--log-level', 'debug'] });
    await ctl(server, 'config', 'source', 'set', 'vault', `addr=${vault.url}`, `token=${VAULT_TOKEN}`);
    await ctl(server, 'config', 'set', '--app', 'shop', '--dynamic', 'vault', 'DB_PASSWORD', 'path=secret/data/db', 'key=/data/password');
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const r = launch(server, deploymentId, inviteToken);

    const first = await startCount(r, 1);
    expect(first.env.DB_PASSWORD).toBe(PASSWORD);
    await waitFor(async () => (await status(server)).some((v) => v.name === 'DB_PASSWORD' && v.ok), { what: () => 'the status: ok' });

    // Vault goes away: the next refresh (every 15 s ± 3) fails; the app keeps its value and runs on.
    await vault.down();
    await waitFor(async () => (await status(server)).some((v) => v.name === 'DB_PASSWORD' && !v.ok), {
      timeoutMs: 30_000,
      what: () => `a failed refresh in the status; stderr: ${r.stderr().toString().slice(-600)}`,
    });
    const failed = (await status(server)).find((v) => v.name === 'DB_PASSWORD')!;
    expect(failed.source).toBe('vault');
    expect(failed.message).toMatch(/127\.0\.0\.1/);
    expect(failed.resolved_at).not.toBeNull(); // the last good value's time
    expect(lines(r.stderr().toString(), 'dynamic config var DB_PASSWORD from the vault source failed')).toHaveLength(1);
    expect(starts(r)).toHaveLength(1);
    expect(childPids(r.pid)).toEqual([first.pid]);

    // Back with a new value: one restart with it, and the status ok again.
    vault.kv2.set('db', { password: NEXT });
    await vault.up();
    const second = await startCount(r, 2, 40_000); // the next refresh: 15 s ± 3 after the failed one
    expect(second.env.DB_PASSWORD).toBe(NEXT);
    await waitFor(async () => (await status(server)).some((v) => v.name === 'DB_PASSWORD' && v.ok), { what: () => 'the status: ok again' });
    expect(starts(r)).toHaveLength(2);

    // The values went from Vault to the instance only: in no log line of either program (both at
    // debug), and nowhere in the server's data dir (the database, its journal, the key).
    for (const secret of [PASSWORD, NEXT, VAULT_TOKEN.slice(4)]) {
      expect(r.stderr().toString()).not.toContain(secret);
      expect(server.proc.stderr().toString()).not.toContain(secret);
    }
    for (const file of readdirSync(server.dataDir)) {
      const bytes = readFileSync(path.join(server.dataDir, file));
      expect(bytes.includes(PASSWORD), file).toBe(false);
      expect(bytes.includes(NEXT), file).toBe(false);
    }
  }, 120_000);
});
