// Config against a server that sends what ours refuses, end to end (the bundle, the scriptable
// fake server): a file_change_signal no app can handle (L9), files outside WAYPOINT_CEB_FILE_ROOT
// or, with exec disabled, outside the app's directory (M7), var names such as `__proto__` (L4).
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigVar } from '../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import { fakeFixture } from '../helpers/fake-fixture.js';
import type { FakeWaypoint } from '../helpers/fake-waypoint.js';
import { childPids, processState } from '../helpers/proc.js';
import { type Running, start, waitFor } from '../helpers/run.js';

const fx = fakeFixture('file-rules');
const APP = 'trap \'echo "usr2 $$"\' USR2; echo "start $$"; while :; do sleep 0.02; done';

async function launch(name: string, env: NodeJS.ProcessEnv = {}, app = APP): Promise<{ f: FakeWaypoint; r: Running; cwd: string; pid: number }> {
  const f = await fx.fake({ config: { env_vars: [] } });
  const cwd = path.join(fx.dir, name, 'app');
  mkdirSync(cwd, { recursive: true });
  const r = start(['sh', '-c', app], {
    env: fx.env(f.addr, env),
    cwd,
  });
  await r.waitForOutput(/^start \d+$/m);
  const pid = Number(/^start (\d+)$/m.exec(r.stdout().toString())![1]);
  return { f, r, cwd, pid };
}

const fileVar = (name: string, content: string): ConfigVar => ({ name, static: content, name_is_path: true });
const stderr = (r: Running) => r.stderr().toString();
const count = (text: string, part: string) => text.split(part).length - 1;

describe('file_change_signal', () => {
  it('L9: SIGKILL and SIGSTOP from a foreign server are refused with one warning each; files still written; app untouched', async () => {
    const { f, r, cwd, pid } = await launch('signals');
    f.push({ env_vars: [fileVar('k.txt', '1')], file_change_signal: 'SIGKILL' });
    await r.waitForOutput('file_change_signal SIGKILL refused: the app could not handle it; the app is not signalled', { stream: 'stderr' });
    expect(readFileSync(path.join(cwd, 'k.txt'), 'utf8')).toBe('1');
    f.push({ env_vars: [fileVar('k.txt', '2')], file_change_signal: 'kill' });
    f.push({ env_vars: [fileVar('k.txt', '3')], file_change_signal: 'STOP' });
    await r.waitForOutput('file_change_signal SIGSTOP refused', { stream: 'stderr' });
    await waitFor(() => readFileSync(path.join(cwd, 'k.txt'), 'utf8') === '3', { what: () => 'the third content' });
    expect(count(stderr(r), 'file_change_signal SIGKILL refused')).toBe(1);
    expect(processState(pid)).not.toMatch(/^[TZX]$/); // neither stopped nor killed
    expect(childPids(r.pid)).toEqual([pid]);
    // A signal an app can handle still goes through.
    f.push({ env_vars: [fileVar('k.txt', '4')], file_change_signal: 'SIGUSR2' });
    await r.waitForOutput(`usr2 ${pid}\n`);
  });
});

describe('WAYPOINT_CEB_FILE_ROOT', () => {
  it('M7: files resolve against the root; `..` and absolute paths outside it are refused with a warning', async () => {
    const root = path.join(fx.dir, 'rooted', 'root');
    const { f, r, cwd } = await launch('rooted', { WAYPOINT_CEB_FILE_ROOT: root });
    const outside = path.join(fx.dir, 'rooted', 'outside.txt');
    f.push({ env_vars: [fileVar('conf/app.json', '{}'), fileVar('../outside.txt', 'no'), fileVar(outside, 'no')], file_change_signal: 'SIGUSR2' });
    await r.waitForOutput('config files written count=1', { stream: 'stderr' });
    expect(readFileSync(path.join(root, 'conf/app.json'), 'utf8')).toBe('{}');
    expect(existsSync(path.join(cwd, 'conf'))).toBe(false);
    expect(existsSync(outside)).toBe(false);
    expect(stderr(r)).toContain(`warn: config file not written: outside WAYPOINT_CEB_FILE_ROOT (${root}) path=../outside.txt`);
    expect(stderr(r)).toContain(`warn: config file not written: outside WAYPOINT_CEB_FILE_ROOT (${root}) path=${outside}`);
  });
});

describe('exec disabled', () => {
  it('M7: without a root, files outside the app directory are refused; with one set explicitly, that root rules', async () => {
    const { f, r, cwd } = await launch('locked', { WAYPOINT_CEB_DISABLE_EXEC: '1' });
    const payload = path.join(fx.dir, 'locked', 'locked-app.js');
    f.push({ env_vars: [fileVar(payload, 'console.log("PWNED")'), fileVar('settings.json', '{}')] });
    await r.waitForOutput('config files written count=1', { stream: 'stderr' });
    expect(existsSync(payload)).toBe(false);
    expect(readFileSync(path.join(cwd, 'settings.json'), 'utf8')).toBe('{}');
    expect(stderr(r)).toContain(
      `warn: config file not written: outside the app's working directory (${cwd}), and exec is disabled: set WAYPOINT_CEB_FILE_ROOT to allow a directory path=${payload}`,
    );

    const opened = await launch('locked-rooted', { WAYPOINT_CEB_DISABLE_EXEC: '1', WAYPOINT_CEB_FILE_ROOT: path.join(fx.dir, 'locked-rooted') });
    const beside = path.join(fx.dir, 'locked-rooted', 'beside.txt');
    opened.f.push({ env_vars: [fileVar(beside, 'ok')] });
    await opened.r.waitForOutput('config files written count=1', { stream: 'stderr' });
    expect(readFileSync(beside, 'utf8')).toBe('ok');
  });
});

describe('var names', () => {
  it('L4: `__proto__` is set aside with one warning, never silently; `constructor`, `toString`, `hasOwnProperty` reach the app', async () => {
    const app = 'echo "start $$"; env | sort | sed "s/^/env: /"; echo "ready $$"; while :; do sleep 0.02; done';
    const { f, r } = await launch('names', { WAYPOINT_LOG_LEVEL: 'debug' }, app);
    const names = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];
    f.push({ env_vars: names.map((name) => ({ name, static: `value-of-${name}` })) });
    await waitFor(() => (r.stdout().toString().match(/^ready /gm) ?? []).length === 2, { what: () => `a restart; stderr ${stderr(r).slice(-500)}` });
    const second = r.stdout().toString().split(/^start /m)[2];
    expect(second).toContain('env: constructor=value-of-constructor\n');
    expect(second).toContain('env: toString=value-of-toString\n');
    expect(second).toContain('env: hasOwnProperty=value-of-hasOwnProperty\n');
    expect(second).not.toContain('__proto__');
    expect(stderr(r)).toContain(`warn: config var not given to the app: a name a terminal's env cannot carry name=__proto__\n`);
    f.push({ env_vars: names.map((name) => ({ name, static: `value-of-${name}` })) });
    await r.waitForOutput('config received count=3', { stream: 'stderr' });
    expect(count(stderr(r), 'config var not given to the app')).toBe(1);
  });
});
