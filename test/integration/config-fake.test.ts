// App config end to end (the bundle) against the scriptable fake server, which pushes configs
// at will: env vars restart the app only when its env changes, bursts coalesce, internal vars
// are interpolated and never exposed, files are written atomically and signalled without a
// restart, WAYPOINT_LOG_LEVEL changes our level live, dynamic vars are resolved (null source) or
// reported when their source cannot be.
// The app prints its pid and env at each start, so starts and their env are counted on stdout.
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigVar } from '../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import { fakeFixture } from '../helpers/fake-fixture.js';
import { FakeVault } from '../helpers/fake-vault.js';
import type { FakeScript, FakeWaypoint } from '../helpers/fake-waypoint.js';
import { childPids } from '../helpers/proc.js';
import { type Running, start, waitFor, withDeadline } from '../helpers/run.js';

const fx = fakeFixture('config');
/** At each start: its pid and env between markers; USR2 and TERM are reported. */
const APP = [
  'trap \'echo "usr2 $$"\' USR2',
  'echo "start $$"',
  'env | sort | sed "s/^/env: /"',
  'echo "ready $$"',
  'while :; do sleep 0.02; done',
].join('; ');

async function fake(vars: ConfigVar[] = [], extra: Partial<FakeScript> = {}): Promise<FakeWaypoint> {
  return fx.fake({ config: { env_vars: vars }, ...extra });
}

function launch(f: FakeWaypoint, extra: NodeJS.ProcessEnv = {}, app = APP): Running {
  const r = start(['sh', '-c', app], {
    env: fx.env(f.addr, {
      WAYPOINT_CEB_CONNECT_TIMEOUT: '5s',
      WAYPOINT_CEB_STOP_TIMEOUT: '5s',
      WAYPOINT_LOG_LEVEL: 'debug',
      INHERITED: 'from our env',
      ...extra,
    }),
    cwd: fx.dir,
  });
  return r;
}

interface Start {
  pid: number;
  env: Record<string, string>;
}

/** Every start the app reported, complete ones only. */
function starts(r: Running): Start[] {
  const out = r.stdout().toString();
  const found: Start[] = [];
  for (const m of out.matchAll(/^start (\d+)\n((?:env: .*\n)*)ready \1$/gm)) {
    const env: Record<string, string> = {};
    for (const line of m[2].split('\n').filter(Boolean)) {
      const [name, ...value] = line.slice('env: '.length).split('=');
      env[name] = value.join('=');
    }
    found.push({ pid: Number(m[1]), env });
  }
  return found;
}

async function startCount(r: Running, n: number, timeoutMs = 10_000): Promise<Start> {
  await waitFor(() => starts(r).length >= n, { timeoutMs, what: () => `${n} start(s); stdout: ${r.stdout().toString().slice(-300)}; stderr: ${r.stderr().toString().slice(-600)}` });
  return starts(r)[n - 1];
}

function childPid(r: Running): number {
  const pids = childPids(r.pid);
  expect(pids).toHaveLength(1);
  return pids[0];
}

const stat = (v: string, value: string, more: Partial<ConfigVar> = {}): ConfigVar => ({ name: v, static: value, ...more });
const stderr = (r: Running) => r.stderr().toString();

describe('env vars', () => {
  it('a new value restarts the app once with it; the same value again does not; unset removes it', async () => {
    const f = await fake([stat('COLOR', 'red')]);
    const r = launch(f);
    const first = await startCount(r, 1);
    expect(first.env.COLOR).toBe('red');

    f.push({ env_vars: [stat('COLOR', 'blue')] });
    const second = await startCount(r, 2);
    expect(second.env.COLOR).toBe('blue');
    expect(second.pid).not.toBe(first.pid);
    expect(stderr(r)).toContain('restarting the app reason="config env changed: COLOR"');

    // The same config again: applied, nothing changed, nothing restarted.
    f.push({ env_vars: [stat('COLOR', 'blue')] });
    await r.waitForOutput('config applied env_changed=false', { stream: 'stderr' });
    expect(starts(r)).toHaveLength(2);
    expect(childPid(r)).toBe(second.pid);

    f.push({ env_vars: [{ name: 'COLOR', unset: {} }] });
    const third = await startCount(r, 3);
    expect(third.env).not.toHaveProperty('COLOR');
    // An empty static value means unset too, and removes a value inherited from our env.
    f.push({ env_vars: [stat('COLOR', 'x'), stat('INHERITED', '')] });
    const fourth = await startCount(r, 4);
    expect(fourth.env.COLOR).toBe('x');
    expect(fourth.env).not.toHaveProperty('INHERITED');
  });

  it('config that arrives before the first start is in that start: no restart', async () => {
    const f = await fake([stat('A', '1'), stat('B', 'two words')]);
    const r = launch(f);
    const first = await startCount(r, 1);
    expect(first.env).toMatchObject({ A: '1', B: 'two words', PORT: '5000', INHERITED: 'from our env' });
    // Applied before the start, so the start itself had it. Our log line of the start may reach
    // stderr after the app's first output reaches stdout: wait for it before comparing.
    await r.waitForOutput('app started', { stream: 'stderr' });
    const text = stderr(r);
    expect(text.indexOf('config applied env_changed=true')).toBeLessThan(text.indexOf('app started'));
    expect(text).not.toContain('restarting the app');
    expect(starts(r)).toHaveLength(1);
  });

  it('internal vars are interpolated into others and never exposed; an unknown reference is one warning', async () => {
    const f = await fake([
      stat('DB_PASS', 's3cret', { internal: true }),
      stat('DATABASE_URL', 'postgres://app:${config.internal.DB_PASS}@db/app'),
      stat('LITERAL', 'keep $${config.internal.DB_PASS} as text'),
      stat('BROKEN', 'x${config.internal.NOPE}y'),
    ]);
    const r = launch(f);
    const first = await startCount(r, 1);
    expect(first.env.DATABASE_URL).toBe('postgres://app:s3cret@db/app');
    expect(first.env.LITERAL).toBe('keep ${config.internal.DB_PASS} as text');
    expect(first.env.BROKEN).toBe('xy');
    expect(first.env).not.toHaveProperty('DB_PASS');
    expect(Object.values(first.env).join('\n')).not.toMatch(/^s3cret$/m);
    // Pushed again (the same): the warning is not repeated.
    f.push({ env_vars: f.script.config!.env_vars });
    await r.waitForOutput('config received count=2', { stream: 'stderr' });
    const warnings = stderr(r).split('\n').filter((l) => l.includes('NOPE'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('warn: config var BROKEN references ${config.internal.NOPE}, which is not set');
  });

  it('a burst of 10 changes within 100 ms makes at most 2 restarts, ending with the last value', async () => {
    const f = await fake([stat('N', '0')]);
    const r = launch(f);
    await startCount(r, 1);
    for (let i = 1; i <= 10; i++) {
      f.push({ env_vars: [stat('N', String(i))] });
      await new Promise((resolve) => setTimeout(resolve, 8));
    }
    await waitFor(() => starts(r).at(-1)?.env.N === '10', { what: () => 'a start with N=10' });
    const all = starts(r);
    expect(all.length - 1).toBeGreaterThanOrEqual(1);
    expect(all.length - 1).toBeLessThanOrEqual(2);
    expect(all.at(-1)!.env.N).toBe('10');
  });

  it('WAYPOINT_CEB_RESTART_JITTER delays a restart by a random time within it', async () => {
    const f = await fake([stat('V', '1')]);
    const r = launch(f, { WAYPOINT_CEB_RESTART_JITTER: '300ms', WAYPOINT_LOG_LEVEL: 'info' });
    await startCount(r, 1);
    const pushed = Date.now();
    f.push({ env_vars: [stat('V', '2')] });
    await startCount(r, 2);
    expect(Date.now() - pushed).toBeLessThan(3000);
  });

  it('a dynamic var from a source this build cannot load: one warning naming it and the source, the app runs', async () => {
    const dynamic: ConfigVar = { name: 'SECRET', dynamic: { from: 'vault', config: { path: 'x' } } };
    const f = await fake([stat('PLAIN', 'p'), dynamic]);
    const r = launch(f);
    const first = await startCount(r, 1);
    expect(first.env.PLAIN).toBe('p');
    expect(first.env).not.toHaveProperty('SECRET');
    f.push({ env_vars: [stat('PLAIN', 'q'), dynamic] });
    await startCount(r, 2);
    const warnings = stderr(r).split('\n').filter((l) => l.includes('dynamic config var'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/warn: dynamic config var SECRET from the vault source failed: .*; the variable is left out of the app's config var=SECRET source=vault failure=/);
  });

  it('a null var with its sources global then app (Waypoint\'s fields): the app\'s setting wins; the first start has it', async () => {
    const fromKey: ConfigVar = { name: 'FROM_KEY', dynamic: { from: 'null', config: { config_key: 'k' } } };
    const fixed: ConfigVar = { name: 'FIXED', dynamic: { from: 'null', config: { static_value: 'fixed' } } };
    const f = await fx.fake({
      config: {
        env_vars: [fromKey, fixed],
        config_sources: [
          { type: 'null', config: { 'values.k': 'global' }, global: {} },
          { type: 'null', config: { 'values.k': 'app' }, application: { application: 'web', project: 'p' } },
        ],
      },
    });
    const r = launch(f);
    const first = await startCount(r, 1);
    expect(first.env.FROM_KEY).toBe('app');
    expect(first.env.FIXED).toBe('fixed');
    // A Waypoint server has no status service of ours: one debug line, nothing else changes.
    await r.waitForOutput('the server has no instance status service; not reporting the dynamic config status on this connection', { stream: 'stderr' });
    expect(stderr(r)).not.toMatch(/warn: .*status/);
  });
});

describe('dynamic vars and the connect window', () => {
  it('a first read slower than the connect window: the app starts without the var, one warning; the value follows with one restart', async () => {
    const vault = await new FakeVault().start();
    try {
      vault.addToken('root-token');
      vault.kv2.set('db', { password: 'late-Pa55word' });
      vault.delayMs = 2500; // every answer, the first read included: past the 1 s window
      const f = await fx.fake({
        config: {
          env_vars: [stat('PLAIN', 'p'), { name: 'DB_PASSWORD', dynamic: { from: 'vault', config: { path: 'secret/data/db', key: '/data/password' } } }],
          config_sources: [{ type: 'vault', config: { addr: vault.url, token: 'root-token' }, global: {} }],
        },
      });
      const r = launch(f, { WAYPOINT_CEB_CONNECT_TIMEOUT: '1s' });
      const first = await startCount(r, 1);
      expect(first.env.PLAIN).toBe('p');
      expect(first.env).not.toHaveProperty('DB_PASSWORD');
      const late = stderr(r).split('\n').filter((l) => l.includes('dynamic config vars not read in time'));
      expect(late).toHaveLength(1);
      expect(late[0]).toContain('warn: dynamic config vars not read in time; starting the app without the ones still missing (they follow with a restart)');
      const second = await startCount(r, 2);
      expect(second.env).toMatchObject({ PLAIN: 'p', DB_PASSWORD: 'late-Pa55word' });
      expect(childPid(r)).toBe(second.pid);
      expect(stderr(r)).not.toContain('late-Pa55word');
    } finally {
      await vault.close();
    }
  });
});

describe('files', () => {
  it('a dynamic file var: written before the first start, rewritten with the file change signal when its value changes; no restart', async () => {
    const fileVar = (value: string): ConfigVar => ({ name: 'conf/dynamic.txt', name_is_path: true, dynamic: { from: 'null', config: { static_value: value } } });
    const f = await fx.fake({ config: { env_vars: [stat('E', '1'), fileVar('one')], file_change_signal: 'SIGUSR2' } });
    const r = launch(f);
    const first = await startCount(r, 1);
    const file = path.join(fx.dir, 'conf/dynamic.txt');
    expect(readFileSync(file, 'utf8')).toBe('one');
    f.push({ env_vars: [stat('E', '1'), fileVar('two')], file_change_signal: 'SIGUSR2' });
    await r.waitForOutput(`usr2 ${first.pid}\n`);
    expect(readFileSync(file, 'utf8')).toBe('two');
    expect(starts(r)).toHaveLength(1);
  });

  it('written atomically with mode 0644, then the app gets file_change_signal; no restart', async () => {
    const f = await fake([stat('E', '1')]);
    const r = launch(f);
    const first = await startCount(r, 1);
    f.push({
      env_vars: [stat('E', '1'), stat('conf/nested/app.json', '{"a":1}\n', { name_is_path: true }), stat(path.join(fx.dir, 'abs.txt'), 'abs', { name_is_path: true })],
      file_change_signal: 'SIGUSR2',
    });
    await r.waitForOutput(`usr2 ${first.pid}\n`);
    const file = path.join(fx.dir, 'conf/nested/app.json');
    expect(readFileSync(file, 'utf8')).toBe('{"a":1}\n');
    expect(statSync(file).mode & 0o777).toBe(0o644);
    expect(readFileSync(path.join(fx.dir, 'abs.txt'), 'utf8')).toBe('abs');
    expect(starts(r)).toHaveLength(1);
    // Changed content: written and signalled again ("USR2" spelled without SIG, any case).
    f.push({ env_vars: [stat('E', '1'), stat('conf/nested/app.json', '{"a":2}\n', { name_is_path: true })], file_change_signal: 'usr2' });
    await waitFor(() => readFileSync(file, 'utf8') === '{"a":2}\n', {});
    await waitFor(() => (r.stdout().toString().match(/^usr2 /gm) ?? []).length === 2, { what: () => 'a second USR2' });
    expect(starts(r)).toHaveLength(1);
    expect(stderr(r)).toContain('config files written count=1');
  });

  it('an unknown signal name is a warning; the file is still written', async () => {
    const f = await fake([stat('unknown-signal.txt', 'x', { name_is_path: true })]);
    f.script.config!.file_change_signal = 'SIGNOPE';
    const r = launch(f);
    await startCount(r, 1);
    // Before the first start there is no app to signal: a change after it is.
    f.push({ env_vars: [stat('unknown-signal.txt', 'y', { name_is_path: true })], file_change_signal: 'SIGNOPE' });
    await r.waitForOutput('config received count=2', { stream: 'stderr' });
    await waitFor(() => readFileSync(path.join(fx.dir, 'unknown-signal.txt'), 'utf8') === 'y', {});
    expect(stderr(r)).toContain('warn: unknown file_change_signal; the app is not signalled signal=SIGNOPE');
    expect(readFileSync(path.join(fx.dir, 'unknown-signal.txt'), 'utf8')).toBe('y');
    expect(starts(r)).toHaveLength(1);
  });
});

describe('our log level', () => {
  it('WAYPOINT_LOG_LEVEL in the config changes our level at once, without a restart', async () => {
    const f = await fake([stat('X', '1')]);
    const r = launch(f, { WAYPOINT_LOG_LEVEL: 'info' });
    await startCount(r, 1);
    expect(stderr(r)).not.toContain('debug:');
    f.push({ env_vars: [stat('X', '1'), stat('WAYPOINT_LOG_LEVEL', 'debug')] });
    await r.waitForOutput('log level changed by the config level=debug', { stream: 'stderr' });
    f.push({ env_vars: [stat('X', '1'), stat('WAYPOINT_LOG_LEVEL', 'debug'), stat('F', 'f', { name_is_path: true })] });
    await r.waitForOutput('debug: config received', { stream: 'stderr' });
    expect(starts(r)).toHaveLength(1);
    // Ours, not the app's: the app still sees the value of our own environment.
    expect(starts(r)[0].env.WAYPOINT_LOG_LEVEL).toBe('info');
    // Removed from the config: back to our own setting.
    f.push({ env_vars: [stat('X', '1')] });
    await r.waitForOutput('log level changed by the config level=info', { stream: 'stderr' });
  });
});

describe('the app across restarts', () => {
  it('an app that exits by itself ends us with its code, and is never restarted', async () => {
    const f = await fake([stat('A', '1')]);
    const r = launch(f, {}, 'echo "start $$"; sleep 0.3; exit 7');
    const exit = await withDeadline(r.exited, 10_000, 'the entrypoint to exit');
    expect(exit.code).toBe(7);
    expect((r.stdout().toString().match(/^start /gm) ?? []).length).toBe(1);
  });

  it('a restart is not an exit; SIGTERM during a restart stops cleanly with no new start', async () => {
    const f = await fake([stat('A', '1')]);
    // Slow to stop: TERM is reported, then it exits 0.6 s later.
    const app = `trap 'echo "term $$"; sleep 0.6; exit 0' TERM; echo "start $$"; echo "ready $$"; while :; do sleep 0.02; done`;
    const r = launch(f, {}, app);
    await r.waitForOutput(/^start \d+\n/m);
    f.push({ env_vars: [stat('A', '2')] });
    await r.waitForOutput(/^term \d+\n/m); // the restart's graceful stop has begun
    r.proc.kill('SIGTERM');
    const exit = await withDeadline(r.exited, 10_000, 'the entrypoint to exit');
    expect(exit.code).toBe(0);
    expect((r.stdout().toString().match(/^start /gm) ?? []).length).toBe(1);
  });
});
