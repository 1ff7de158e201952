// A config-driven restart never leaves the instance without an app (H2, H3), end to end (the
// bundle) with config pushed by the scriptable fake server: an env exec would refuse (a var over
// MAX_ARG_STRLEN, a total over ARG_MAX) or a PATH the command is not on is refused before the
// running app is touched; an app that still fails to start after the old one stopped is started
// again with the env it last ran with. Each is one error line, also shipped to the server.
import { rmSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigVar } from '../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import { fakeFixture } from '../helpers/fake-fixture.js';
import type { FakeExec, FakeWaypoint } from '../helpers/fake-waypoint.js';
import { childPids, isRunning } from '../helpers/proc.js';
import { writeShellScript } from '../helpers/scripts.js';
import { ENTRYPOINT, type Running, start, waitFor, withDeadline } from '../helpers/run.js';

const fx = fakeFixture('restart');
/** At each start: its pid and its PATH; TERM ends it (after `onTerm`). */
const appScript = (onTerm = '') =>
  [`trap '${onTerm} exit 0' TERM`, 'echo "start $$ PATH=$PATH"', 'while :; do sleep 0.02; done'].join('\n');

async function fake(vars: ConfigVar[] = []): Promise<FakeWaypoint> {
  return fx.fake({ config: { env_vars: vars } });
}

/** The entrypoint under an 8 MiB stack limit, so that ARG_MAX is 2 MiB whatever the test's. */
function launch(f: FakeWaypoint, argv: string[], extra: NodeJS.ProcessEnv = {}): Running {
  const r = start(['-c', 'ulimit -s 8192 && exec "$0" "$@"', ENTRYPOINT, ...argv], {
    bin: '/bin/sh',
    env: fx.env(f.addr, { WAYPOINT_CEB_STOP_TIMEOUT: '5s', WAYPOINT_LOG_LEVEL: 'debug', ...extra }),
    cwd: fx.dir,
  });
  return r;
}

function starts(r: Running): Array<{ pid: number; path: string }> {
  return [...r.stdout().toString().matchAll(/^start (\d+) PATH=(.*)$/gm)].map((m) => ({ pid: Number(m[1]), path: m[2] }));
}

async function startCount(r: Running, n: number): Promise<{ pid: number; path: string }> {
  await waitFor(() => starts(r).length >= n, { what: () => `${n} start(s); stderr: ${r.stderr().toString().slice(-800)}` });
  return starts(r)[n - 1];
}

const stat = (name: string, value: string): ConfigVar => ({ name, static: value });
const stderr = (r: Running) => r.stderr().toString();
const count = (text: string, part: string) => text.split(part).length - 1;

/** The error is on our stderr and reached the server as an ENTRYPOINT line. */
async function errorShipped(r: Running, f: FakeWaypoint, text: string): Promise<void> {
  await r.waitForOutput(text, { stream: 'stderr' });
  await waitFor(() => f.lines.some((l) => l.source === 'ENTRYPOINT' && l.line.includes(text)), {
    what: () => `${text} at the fake; got ${JSON.stringify(f.lines.slice(-5).map((l) => l.line.slice(0, 200)))}`,
  });
}

/** The first app runs on, the only one ever started, with the entrypoint alive. */
function expectSameApp(r: Running, pid: number): void {
  expect(r.proc.exitCode).toBeNull();
  expect(isRunning(pid)).toBe(true);
  expect(childPids(r.pid)).toEqual([pid]);
  expect(starts(r)).toHaveLength(1);
}

/** An app script of its own, per test. */
const script = (name: string, onTerm = '') => writeShellScript(fx.dir, name, appScript(onTerm));

describe('an env the app cannot start with is refused before the app is stopped', () => {
  it('H2: a var over MAX_ARG_STRLEN (128 KiB): the app keeps running, one error shipped; a later good change restarts', async () => {
    const f = await fake([stat('A', '1')]);
    const r = launch(f, [script('big/app')]);
    const first = await startCount(r, 1);
    f.push({ env_vars: [stat('A', '1'), stat('BIG', 'b'.repeat(130 * 1024))] });
    await errorShipped(r, f, 'config env not applied, the app keeps running with its current env');
    expect(stderr(r)).toMatch(/env var BIG is 133124 bytes as NAME=value; exec takes at most 131071 per var \(MAX_ARG_STRLEN\) changed=BIG/);
    expect(stderr(r)).not.toContain('b'.repeat(100));
    expectSameApp(r, first.pid);
    // The same config again (a resend): not tried again, not logged again.
    f.push({ env_vars: [stat('A', '1'), stat('BIG', 'b'.repeat(130 * 1024))] });
    await r.waitForOutput('config received count=3', { stream: 'stderr' });
    expect(count(stderr(r), 'config env not applied')).toBe(1);
    f.push({ env_vars: [stat('A', '2')] });
    const second = await startCount(r, 2);
    expect(isRunning(first.pid)).toBe(false);
    expect(childPids(r.pid)).toEqual([second.pid]);
  });

  it('H2: an env over ARG_MAX in total (22 × 100 KB under a 2 MiB ARG_MAX): the app keeps running', async () => {
    const f = await fake();
    const r = launch(f, [script('total/app')]);
    const first = await startCount(r, 1);
    const vars = Array.from({ length: 22 }, (_, i) => stat(`CHUNK_${i}`, 'c'.repeat(100_000)));
    f.push({ env_vars: vars });
    await errorShipped(r, f, 'config env not applied, the app keeps running with its current env');
    expect(stderr(r)).toMatch(/the env and command line take \d+ bytes; exec takes at most 2097152 here/);
    expectSameApp(r, first.pid);
  });

  it('H3: a PATH the command is not on is refused; unsetting it leaves the app as it is; set again, refused again', async () => {
    const f = await fake();
    const r = launch(f, ['sh', '-c', appScript()]);
    const first = await startCount(r, 1);
    f.push({ env_vars: [stat('PATH', '/etc/hosts')] });
    await errorShipped(r, f, 'config env not applied, the app keeps running with its current env: sh: command not found');
    expectSameApp(r, first.pid);
    // Unset: the config is what the app already runs with. Nothing to do, nothing wrong.
    f.push({ env_vars: [] });
    await r.waitForOutput('config received count=3', { stream: 'stderr' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // a restart would have begun by now
    expectSameApp(r, first.pid);
    expect(stderr(r)).not.toContain('restarting the app');
    // Set again: judged afresh, refused again.
    f.push({ env_vars: [stat('PATH', '/etc/hosts')] });
    await waitFor(() => count(stderr(r), 'config env not applied') === 2, { what: () => 'a second refusal' });
    expectSameApp(r, first.pid);
    // A file among good entries is skipped by the lookup: that PATH works.
    f.push({ env_vars: [stat('PATH', `/etc/hosts:${process.env.PATH}`)] });
    const second = await startCount(r, 2);
    expect(second.path).toBe(`/etc/hosts:${process.env.PATH}`);
    // The fake has no instance status service (as Waypoint's own): asked once, at debug, never again
    // on that connection, whatever the states since (RUNNING, refused twice, RUNNING).
    const noService = 'debug: the server has no instance status service; not reporting the instance status on this connection';
    await waitFor(() => count(stderr(r), noService) >= 1, { what: () => "the first report's answer" });
    expect(count(stderr(r), noService)).toBe(1);
    expect(stderr(r)).not.toMatch(/(warn|error): .*instance status/);
  });

  it('H3: while a config is refused, an exec session gets the env the app runs with, not the refused one', async () => {
    const f = await fake([stat('MARK', 'old')]);
    const r = launch(f, ['sh', '-c', appScript()]);
    const first = await startCount(r, 1);
    const refused = [stat('MARK', 'new'), stat('PATH', '/etc/hosts')];
    f.push({ env_vars: refused });
    await errorShipped(r, f, 'config env not applied');
    f.push({ env_vars: refused, exec: [{ index: 1, args: ['sh', '-c', 'echo "MARK=$MARK PATH=$PATH"'] }] });
    let e: FakeExec | undefined;
    await waitFor(() => (e = f.exec(1))?.exit !== undefined || e?.error !== undefined, { what: () => `the exec to end: ${JSON.stringify(e?.error)}` });
    expect(e!.error).toBeUndefined();
    expect(e!.stdout().toString()).toBe(`MARK=old PATH=${first.path}\n`);
    expectSameApp(r, first.pid);
  });

  it('H3: a command that vanished: the app keeps running and says why', async () => {
    const f = await fake();
    const file = script('vanish/app');
    const r = launch(f, [file]);
    const first = await startCount(r, 1);
    rmSync(file);
    f.push({ env_vars: [stat('A', 'x')] });
    await errorShipped(r, f, `config env not applied, the app keeps running with its current env: ${file}: no such file or directory`);
    expectSameApp(r, first.pid);
  });
});

describe('an app that fails to start after the old one stopped', () => {
  it('H3: is started again with the env it last ran with; the same config is not retried; going back to that env is a no-op', async () => {
    const f = await fake();
    const good = path.join(fx.dir, 'fallback/good');
    const doomed = path.join(fx.dir, 'fallback/doomed');
    // The new PATH's myapp is there at the check, gone by the start: the running app's stop
    // removes it (as a deploy racing us would).
    script('fallback/good/myapp', `rm -f ${doomed}/myapp;`);
    script('fallback/doomed/myapp');
    const basePath = `${good}:${process.env.PATH}`;
    const r = launch(f, ['myapp'], { PATH: basePath });
    const first = await startCount(r, 1);
    expect(first.path).toBe(basePath);
    f.push({ env_vars: [stat('PATH', `${doomed}:${process.env.PATH}`)] });
    // The doomed one was never started: the good one is, with the env it last ran with.
    const again = await startCount(r, 2);
    expect(again.path).toBe(basePath);
    await errorShipped(r, f, 'restart failed: myapp: command not found; starting the app again with the env it last ran with');
    expect(childPids(r.pid)).toEqual([again.pid]);
    expect(isRunning(first.pid)).toBe(false);
    expect(r.proc.exitCode).toBeNull();
    // Pushed again: not retried.
    f.push({ env_vars: [stat('PATH', `${doomed}:${process.env.PATH}`)] });
    await r.waitForOutput('config received count=3', { stream: 'stderr' });
    // Unset: the config now equals the env that runs.
    f.push({ env_vars: [] });
    await r.waitForOutput('config received count=4', { stream: 'stderr' });
    await new Promise((resolve) => setTimeout(resolve, 300)); // a restart would have begun by now
    expect(starts(r)).toHaveLength(2);
    expect(childPids(r.pid)).toEqual([again.pid]);
    expect(count(stderr(r), 'restarting the app')).toBe(1);
  });
});

describe('an app that cannot be started again either', () => {
  it('H3: both starts fail (its command gone with its stop): two error lines, and we exit 127 rather than run on without an app', async () => {
    const f = await fake();
    const file = path.join(fx.dir, 'gone/app');
    script('gone/app', `rm -f ${file};`);
    const r = launch(f, [file]);
    await startCount(r, 1);
    f.push({ env_vars: [stat('A', 'x')] });
    const exit = await withDeadline(r.exited, 10_000, 'the entrypoint to exit');
    expect(exit.code).toBe(127);
    expect(stderr(r)).toContain(`error: restart failed: ${file}: no such file or directory; starting the app again with the env it last ran with`);
    expect(stderr(r)).toContain(`error: the app cannot be started again either: ${file}: no such file or directory`);
  });
});

describe('many restarts', () => {
  it('L7: 20 config restarts leave no listener behind on our output: no MaxListenersExceededWarning', async () => {
    const f = await fake([stat('N', '0')]);
    const r = launch(f, ['sh', '-c', appScript()]);
    await startCount(r, 1);
    for (let i = 1; i <= 20; i++) {
      f.push({ env_vars: [stat('N', String(i))] });
      await startCount(r, i + 1);
    }
    expect(r.proc.exitCode).toBeNull();
    expect(stderr(r)).not.toContain('MaxListenersExceededWarning');
    expect(count(stderr(r), 'restarting the app')).toBe(20);
  });
});
