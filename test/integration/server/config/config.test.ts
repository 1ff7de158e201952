// App config on the reference server, driven by `waypoint-ctl config` and watched through raw
// gRPC clients standing in for entrypoints: what the first config carries, what a change pushes
// (at once, the full set, only to the instances it concerns), precedence, kinds, the file change
// signal, validation, and a restart.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConfigVar__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import type { EntrypointConfigResponse__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { getConfig, grpc, md, rpcError, setConfig } from '../../../helpers/grpc.js';
import { killAll, waitFor } from '../../../helpers/run.js';
import { type FakeInstance, startServer, stopServers, type TestServer } from '../../../helpers/server.js';

const { status } = grpc;
const tmpDirs: string[] = [];

afterEach(async () => {
  await stopServers();
  killAll();
  for (const d of tmpDirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The vars of a config message as name → what an entrypoint needs of each. */
function vars(m: EntrypointConfigResponse__Output | undefined) {
  return Object.fromEntries(
    (m?.config?.env_vars ?? []).map((v: ConfigVar__Output) => [
      v.name,
      { value: v.static, ...(v.internal && { internal: true }), ...(v.name_is_path && { file: true }) },
    ]),
  );
}

const last = (i: FakeInstance) => i.config.messages[i.config.messages.length - 1];

/** Runs the ctl; fails the test unless it exits 0. */
async function ok(server: TestServer, args: string[]): Promise<string> {
  const r = await server.ctl(args);
  expect(r.stderr.toString(), args.join(' ')).toBe('');
  expect(r.code, args.join(' ')).toBe(0);
  return r.stdout.toString();
}

/** Waits until the instance has received `n` config messages in all. */
async function pushed(i: FakeInstance, n: number) {
  await waitFor(() => i.config.messages.length >= n, { timeoutMs: 2_000, what: () => `config message #${n} on ${i.id}` });
  expect(i.config.messages).toHaveLength(n);
}

function localFile(content: Buffer | string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-config-test-'));
  tmpDirs.push(dir);
  const file = path.join(dir, 'content');
  writeFileSync(file, content);
  return file;
}

describe('the first config message', () => {
  it('carries the current config: globals, app vars, internal and file vars, the file signal and the labels', async () => {
    const server = await startServer();
    await ok(server, ['config', 'set', 'GREETING=hello world', 'URL=http://x/?a=b&c=d']);
    await ok(server, ['config', 'set', '--app', 'web', '--internal', 'DB_PASS=s3cret']);
    await ok(server, ['config', 'set', '--app', 'web', '--file', 'conf/app.ini=[main]\nkey=value\n']);
    await ok(server, ['config', 'file-signal', '--app', 'web', 'SIGUSR2']);

    const inst = await server.connectInstance('web', { labels: { env: 'prod' } });
    expect(vars(inst.config.messages[0])).toEqual({
      GREETING: { value: 'hello world' },
      URL: { value: 'http://x/?a=b&c=d' },
      DB_PASS: { value: 's3cret', internal: true },
      'conf/app.ini': { value: '[main]\nkey=value\n', file: true },
    });
    expect(inst.config.messages[0].config?.file_change_signal).toBe('SIGUSR2');
    expect(inst.config.messages[0].config?.deployment?.labels).toEqual({ env: 'prod' });
  });

  it('is the same empty set as before for an app without config', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    expect(inst.config.messages[0].config?.env_vars).toEqual([]);
    expect(inst.config.messages[0].config?.file_change_signal).toBe('');
  });
});

describe('config set', () => {
  it('pushes the new full config to a connected instance at once, several vars in one message', async () => {
    const server = await startServer();
    await ok(server, ['config', 'set', '--app', 'web', 'KEEP=1']);
    const inst = await server.connectInstance('web');
    const out = await ok(server, ['config', 'set', '--app', 'web', 'A=1', 'B=two=2']);
    expect(out).toBe('set A, B for app web; 1 connected instance updated\n');
    await pushed(inst, 2);
    expect(vars(last(inst))).toEqual({ KEEP: { value: '1' }, A: { value: '1' }, B: { value: 'two=2' } });
  });

  it('does not push a change that leaves the config as it was (the same value again)', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    await ok(server, ['config', 'set', '--app', 'web', 'A=1']);
    await pushed(inst, 2);
    expect(await ok(server, ['config', 'set', '--app', 'web', 'A=1'])).toMatch(/no connected instance affected/);
    await ok(server, ['config', 'set', '--app', 'web', 'B=2']);
    await pushed(inst, 3); // B's push is the next message: nothing came for the repeated A=1
    expect(vars(last(inst))).toEqual({ A: { value: '1' }, B: { value: '2' } });
  });

  it('lets an app var win over a global one of the same name, and a global change reach every app', async () => {
    const server = await startServer();
    const web = await server.connectInstance('web');
    const api = await server.connectInstance('api');
    await ok(server, ['config', 'set', 'COLOR=blue']);
    await pushed(web, 2);
    await pushed(api, 2);
    await ok(server, ['config', 'set', '--app', 'web', 'COLOR=red']);
    await pushed(web, 3);
    expect(vars(last(web))).toEqual({ COLOR: { value: 'red' } });
    // The global var changes again: web overrides it (no push), api gets it.
    expect(await ok(server, ['config', 'set', 'COLOR=green'])).toMatch(/1 connected instance updated/);
    await pushed(api, 3);
    expect(vars(last(api))).toEqual({ COLOR: { value: 'green' } });
    // Without its own var, web falls back to the global one.
    await ok(server, ['config', 'unset', '--app', 'web', 'COLOR']);
    await pushed(web, 4);
    expect(vars(last(web))).toEqual({ COLOR: { value: 'green' } });
  });

  it('pushes an app change only to the instances of that app', async () => {
    const server = await startServer();
    const web1 = await server.connectInstance('web');
    const web2 = await server.connectInstance('web', { deploymentId: web1.deploymentId, token: web1.token });
    const api = await server.connectInstance('api');
    expect(await ok(server, ['config', 'set', '--app', 'web', 'ONLY_WEB=1'])).toMatch(/2 connected instances updated/);
    await pushed(web1, 2);
    await pushed(web2, 2);
    await ok(server, ['config', 'set', 'EVERYONE=1']);
    await pushed(api, 2); // api's next message is the global change: it got nothing for web's
    expect(vars(last(api))).toEqual({ EVERYONE: { value: '1' } });
  });

  it('carries the internal flag, and a file var with name_is_path and its exact bytes', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const content = Buffer.from('line 1\r\nünïcødé ✓ \u{1F600}\n\ttabs\u0000nul\n\n');
    await ok(server, ['config', 'set', '--app', 'web', '--internal', 'TOKEN=abc']);
    await ok(server, ['config', 'set', '--app', 'web', '--file', `/etc/app/config.yml=@${localFile(content)}`]);
    await pushed(inst, 3);
    const file = last(inst).config!.env_vars.find((v) => v.name === '/etc/app/config.yml')!;
    expect(file).toMatchObject({ name_is_path: true, internal: false, value: 'static' });
    expect(Buffer.from(file.static!, 'utf8').equals(content)).toBe(true);
    expect(vars(last(inst)).TOKEN).toEqual({ value: 'abc', internal: true });
  });

  it('takes --file PATH=TEXT literally, and @@ as a literal @', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    await ok(server, ['config', 'set', '--app', 'web', '--file', 'a.txt=plain', '--file', 'b.txt=@@home']);
    await pushed(inst, 2);
    expect(vars(last(inst))).toEqual({ 'a.txt': { value: 'plain', file: true }, 'b.txt': { value: '@home', file: true } });
  });

  it('replaces a var of another kind under the same name', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    await ok(server, ['config', 'set', '--app', 'web', 'X=1']);
    await ok(server, ['config', 'set', '--app', 'web', '--internal', 'X=1']);
    await pushed(inst, 3);
    expect(vars(last(inst))).toEqual({ X: { value: '1', internal: true } });
  });
});

describe('config unset', () => {
  it('removes vars from the set pushed (they are absent, not sent as unset)', async () => {
    const server = await startServer();
    await ok(server, ['config', 'set', '--app', 'web', 'A=1', 'B=2', '--file', 'f.txt=x']);
    const inst = await server.connectInstance('web');
    expect(await ok(server, ['config', 'unset', '--app', 'web', 'A', 'f.txt'])).toBe('unset A, f.txt for app web; 1 connected instance updated\n');
    await pushed(inst, 2);
    expect(vars(last(inst))).toEqual({ B: { value: '2' } });
  });

  it('refuses a name not set in that scope, changing nothing (exit 1)', async () => {
    const server = await startServer();
    await ok(server, ['config', 'set', 'A=1']);
    const inst = await server.connectInstance('web');
    const r = await server.ctl(['config', 'unset', '--app', 'web', 'A']);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toMatch(/^waypoint-ctl: .*"A" is not set for app web: nothing to unset\n$/);
    const both = await server.ctl(['config', 'unset', 'A', 'NOPE']);
    expect(both.code).toBe(1);
    await ok(server, ['config', 'set', 'Z=1']);
    await pushed(inst, 2);
    expect(vars(last(inst))).toEqual({ A: { value: '1' }, Z: { value: '1' } });
  });
});

describe('config file-signal', () => {
  it('pushes the signal to the app, normalised, and --clear removes it', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    expect(await ok(server, ['config', 'file-signal', '--app', 'web', 'usr1'])).toBe(
      'file change signal of app web: SIGUSR1; 1 connected instance updated\n',
    );
    await pushed(inst, 2);
    expect(last(inst).config?.file_change_signal).toBe('SIGUSR1');
    await ok(server, ['config', 'file-signal', '--app', 'web', '--clear']);
    await pushed(inst, 3);
    expect(last(inst).config?.file_change_signal).toBe('');
  });

  it('refuses unknown and unusable signals, and a missing --app or signal, as usage errors', async () => {
    const server = await startServer();
    for (const args of [
      ['--app', 'web', 'SIGNOPE'],
      ['--app', 'web', 'KILL'],
      ['--app', 'web'],
      ['--app', 'web', 'HUP', '--clear'],
      ['HUP'],
    ]) {
      const r = await server.ctl(['config', 'file-signal', ...args]);
      expect(r.code, args.join(' ')).toBe(2);
    }
    const control = server.control();
    const err = await rpcError(
      new Promise((resolve, reject) =>
        control.SetFileChangeSignal({ app: 'web', signal: 'SIGBOGUS' }, server.operator(), (e, res) => (e ? reject(e) : resolve(res))),
      ),
    );
    expect(err.code).toBe(status.INVALID_ARGUMENT);
  });
});

describe('config get', () => {
  it('shows scope, kind and value (internal ones too), overridden globals marked; --json', async () => {
    const server = await startServer();
    await ok(server, ['config', 'set', 'COLOR=blue', 'SHARED=yes']);
    await ok(server, ['config', 'set', '--app', 'web', 'COLOR=red']);
    await ok(server, ['config', 'set', '--app', 'web', '--internal', 'PASS=pw']);
    await ok(server, ['config', 'set', '--app', 'web', '--file', '/etc/x.conf=abc']);
    await ok(server, ['config', 'file-signal', '--app', 'web', 'HUP']);

    const json = JSON.parse(await ok(server, ['config', 'get', '--app', 'web', '--json']));
    expect(json.app).toBe('web');
    expect(json.file_change_signal).toBe('SIGHUP');
    expect(json.vars.map((v: Record<string, unknown>) => [v.name, v.scope, v.kind, v.value, v.overridden])).toEqual([
      ['/etc/x.conf', 'app', 'file', 'abc', false],
      ['COLOR', 'app', 'static', 'red', false],
      ['COLOR', 'global', 'static', 'blue', true],
      ['PASS', 'app', 'internal', 'pw', false],
      ['SHARED', 'global', 'static', 'yes', false],
    ]);

    const table = (await ok(server, ['config', 'get', '--app', 'web'])).trim().split('\n');
    expect(table[0]).toMatch(/^NAME\s+SCOPE\s+KIND\s+VALUE$/);
    expect(table).toContainEqual(expect.stringMatching(/^COLOR\s+global \(overridden\)\s+static\s+blue$/));
    expect(table).toContainEqual(expect.stringMatching(/^\/etc\/x\.conf\s+app\s+file\s+\(3 bytes\)$/));
    expect(table.at(-1)).toBe('file change signal: SIGHUP');

    const globals = JSON.parse(await ok(server, ['config', 'get', '--json']));
    expect(globals.vars.map((v: { name: string }) => v.name)).toEqual(['COLOR', 'SHARED']);
    expect(await ok(server, ['config', 'get', '--app', 'other'])).toMatch(/^NAME.*\nCOLOR\s+global\s+static\s+blue\nSHARED.*\nfile change signal: none\n$/);
    expect(await ok(await startServer(), ['config', 'get'])).toBe('no global config vars\n');
  });
});

describe('validation', () => {
  it('refuses bad names and values before calling the server (exit 2, one line)', async () => {
    const server = await startServer();
    const cases: Array<[string[], RegExp]> = [
      [['config', 'set', '1ABC=x'], /invalid env var name "1ABC"/],
      [['config', 'set', 'A-B=x'], /invalid env var name/],
      [['config', 'set', 'NOEQUALS'], /expected KEY=VALUE/],
      [['config', 'set', 'EMPTY='], /would be empty/],
      [['config', 'set', 'A=1', 'A=2'], /"A" is given twice/],
      [['config', 'set'], /needs KEY=VALUE/],
      [['config', 'set', '--file', 'dir/=x'], /names a directory/],
      [['config', 'set', '--file', '..=x'], /names a directory/],
      [['config', 'set', '--file', 'noequals'], /expected --file PATH=@LOCALFILE/],
      [['config', 'set', '--file', `bin=@${localFile(Buffer.from([0xff, 0xfe]))}`], /not valid UTF-8/],
      [['config', 'set', '--app', 'bad app', 'A=1'], /invalid app name/],
      [['config', 'unset'], /missing required argument|needs the names/],
    ];
    for (const [args, message] of cases) {
      const r = await server.ctl(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.toString(), args.join(' ')).toMatch(message);
      expect(r.stderr.toString().trim().split('\n').filter((l) => !l.startsWith('(--help'))).toHaveLength(1);
    }
  });

  it('exits 1 for an unreadable local file', async () => {
    const server = await startServer();
    const r = await server.ctl(['config', 'set', '--file', 'a.txt=@/nonexistent/file']);
    expect(r.code).toBe(1);
    expect(r.stderr.toString()).toBe('waypoint-ctl: cannot read /nonexistent/file: no such file\n');
  });

  it('the server checks too: INVALID_ARGUMENT for what the ctl would refuse, PERMISSION_DENIED for an entrypoint token', async () => {
    const server = await startServer();
    const control = server.control();
    const op = server.operator();
    const bad = [
      { app: '', set: [{ name: '9X', kind: 'STATIC' as const, value: Buffer.from('1') }] },
      { app: '', set: [{ name: 'E', kind: 'STATIC' as const, value: Buffer.alloc(0) }] },
      { app: '', set: [{ name: 'N', kind: 'STATIC' as const, value: Buffer.from('a\0b') }] },
      { app: '', set: [{ name: 'f/', kind: 'FILE' as const, value: Buffer.from('x') }] },
      { app: '', set: [{ name: 'B', kind: 'FILE' as const, value: Buffer.from([0xc3, 0x28]) }] },
      { app: '', set: [{ name: 'BIG', kind: 'STATIC' as const, value: Buffer.alloc(1024 * 1024 + 1, 'a') }] },
      { app: 'no way', set: [{ name: 'A', kind: 'STATIC' as const, value: Buffer.from('1') }] },
      { app: '', set: [], unset: [] },
    ];
    for (const req of bad) {
      const err = await rpcError(setConfig(control, req, op));
      expect(err.code, JSON.stringify(req).slice(0, 80)).toBe(status.INVALID_ARGUMENT);
    }
    const inst = await server.connectInstance('web');
    const denied = await rpcError(getConfig(control, 'web', md({ token: inst.token })));
    expect(denied.code).toBe(status.PERMISSION_DENIED);
  });
});

describe('restart', () => {
  it('keeps the config: a reconnecting instance gets it first thing', async () => {
    const server = await startServer();
    await ok(server, ['config', 'set', 'G=1']);
    await ok(server, ['config', 'set', '--app', 'web', '--internal', 'I=2', '--file', 'f=3']);
    await ok(server, ['config', 'file-signal', '--app', 'web', 'SIGWINCH']);
    const before = await server.connectInstance('web');
    await server.restart();
    await before.config.waitForEnd();
    const after = await server.connectInstance('web', { deploymentId: before.deploymentId, token: before.token });
    expect(vars(after.config.messages[0])).toEqual({ G: { value: '1' }, I: { value: '2', internal: true }, f: { value: '3', file: true } });
    expect(after.config.messages[0].config?.file_change_signal).toBe('SIGWINCH');
  });
});
