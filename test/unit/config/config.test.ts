// App config, the pure parts: interpolation, resolving a config message, the env the app gets
// and whether it changed, signal names, atomic file writes, and the restart coalescing (fake
// timers).
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { AppEnv, applyConfigEnv, changedNames, sameEnv } from '../../../src/config/app-env.js';
import { ConfigFiles, writeFileAtomic } from '../../../src/config/files.js';
import { interpolate } from '../../../src/config/interpolate.js';
import { resolveConfig } from '../../../src/config/resolve.js';
import { RestartScheduler } from '../../../src/config/restart-scheduler.js';
import { parseSignalName } from '../../../src/config/signal.js';
import type { ConfigVar__Output } from '../../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';

/** A ConfigVar as the loader decodes it (defaults on, oneof named). */
function v(name: string, value: Partial<ConfigVar__Output> | string): ConfigVar__Output {
  const base = { name, internal: false, name_is_path: false };
  if (typeof value === 'string') return { ...base, static: value, value: 'static' };
  return { ...base, ...value };
}

describe('interpolate', () => {
  const internal = new Map([
    ['PASS', 'p@ss'],
    ['a.b', 'dotted'],
  ]);
  it.each([
    ['no reference', 'plain', 'plain', []],
    ['one reference', 'u:${config.internal.PASS}@h', 'u:p@ss@h', []],
    ['spaces inside', '${ config.internal.PASS }', 'p@ss', []],
    ['twice, and a dotted name', '${config.internal.PASS}/${config.internal.PASS}/${config.internal.a.b}', 'p@ss/p@ss/dotted', []],
    ['an unknown name reads as empty', 'x${config.internal.NOPE}y', 'xy', ['NOPE']],
    ['$${ is a literal ${', '$${config.internal.PASS}', '${config.internal.PASS}', []],
    ['other ${...} is left alone', '${HOME} ${config.env.X}', '${HOME} ${config.env.X}', []],
  ])('%s', (_, input, value, unknown) => {
    expect(interpolate(input, internal)).toEqual({ value, unknown });
  });
});

describe('resolveConfig', () => {
  it('static, unset, empty static, internal, files, dynamic, our log level', () => {
    const r = resolveConfig([
      v('A', 'a'),
      v('GONE', { unset: {}, value: 'unset' }),
      v('EMPTY', ''),
      v('SECRET', { static: 'shh', value: 'static', internal: true }),
      v('URL', 'db://${config.internal.SECRET}@${config.internal.MISSING}'),
      v('conf/app.json', { static: '{}', value: 'static', name_is_path: true }),
      v('conf/unset.json', { unset: {}, value: 'unset', name_is_path: true }),
      v('DYN', { dynamic: { from: 'vault', config: {} }, value: 'dynamic' }),
      v('WAYPOINT_LOG_LEVEL', 'debug'),
    ]);
    expect(Object.fromEntries(r.env)).toEqual({ A: 'a', GONE: null, EMPTY: null, URL: 'db://shh@' });
    expect(r.files).toEqual([{ path: 'conf/app.json', content: '{}' }]);
    expect(r.dynamic).toEqual([{ name: 'DYN', from: 'vault' }]);
    expect(r.unknownRefs).toEqual([{ name: 'URL', ref: 'MISSING' }]);
    expect(r.logLevel).toBe('debug');
  });

  it('L4: `__proto__` and names no env can hold are set aside with why; `constructor` and `toString` are plain names', () => {
    const r = resolveConfig([v('__proto__', 'polluted'), v('A=B', 'x'), v('', 'x'), v('N\0UL', 'x'), v('constructor', 'c'), v('toString', 't')]);
    expect([...r.env]).toEqual([
      ['constructor', 'c'],
      ['toString', 't'],
    ]);
    expect(r.badNames.map((b) => b.name)).toEqual(['__proto__', 'A=B', '', 'N\0UL']);
    expect(r.badNames[0].reason).toBe("a name a terminal's env cannot carry");
    const env = applyConfigEnv({ PATH: '/bin' }, r.env);
    expect(Object.keys(env).sort()).toEqual(['PATH', 'constructor', 'toString']);
    expect(Object.getPrototypeOf(env)).toBe(Object.prototype);
  });

  it('a var with no value at all is unset; the last of two with one name wins', () => {
    const r = resolveConfig([v('X', {}), v('Y', '1'), v('Y', '2')]);
    expect(Object.fromEntries(r.env)).toEqual({ X: null, Y: '2' });
  });
});

describe('the app env', () => {
  it('config on top of the base: values set, null removes, base untouched', () => {
    const base = { PATH: '/bin', KEEP: 'k', DROP: 'd' };
    const env = applyConfigEnv(base, new Map([['NEW', 'n'], ['DROP', null], ['KEEP', 'k2']]));
    expect(env).toEqual({ PATH: '/bin', KEEP: 'k2', NEW: 'n' });
    expect(base).toEqual({ PATH: '/bin', KEEP: 'k', DROP: 'd' });
  });

  it('update() says whether the resulting env changed: that is the restart decision', () => {
    const appEnv = new AppEnv({ PATH: '/bin', X: '1' });
    expect(appEnv.update(new Map([['A', '1']]))).toBe(true);
    expect(appEnv.update(new Map([['A', '1']]))).toBe(false); // same config again
    expect(appEnv.update(new Map([['A', '1'], ['X', '1']]))).toBe(false); // sets what the base has
    expect(appEnv.update(new Map([['A', '1'], ['NOT_THERE', null]]))).toBe(false); // removes nothing
    expect(appEnv.update(new Map([['A', '2']]))).toBe(true);
    expect(appEnv.update(new Map([['A', '2'], ['X', null]]))).toBe(true);
    expect(appEnv.current()).toEqual({ PATH: '/bin', A: '2' });
  });

  it('sameEnv and changedNames', () => {
    expect(sameEnv({ a: '1', b: '2' }, { b: '2', a: '1' })).toBe(true);
    expect(sameEnv({ a: '1' }, { a: '1', b: '' })).toBe(false);
    expect(sameEnv({ a: '1' }, { a: '2' })).toBe(false);
    expect(sameEnv(undefined, { a: '1' })).toBe(false);
    expect(changedNames({ a: '1', b: '2', c: '3' }, { a: '1', b: '3', d: '4' })).toEqual(['b', 'c', 'd']);
  });
});

describe('parseSignalName', () => {
  it.each([
    ['SIGUSR2', 'SIGUSR2'],
    ['usr2', 'SIGUSR2'],
    [' HUP ', 'SIGHUP'],
    ['sigterm', 'SIGTERM'],
    ['SIGNOPE', undefined],
    ['', undefined],
    ['toString', undefined],
  ])('%j → %s', (name, signal) => {
    expect(parseSignalName(name)).toBe(signal);
  });
});

describe('config files', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wp-files-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes through a temp file and a rename: parents created, mode 0644 whatever the umask, no temp left', () => {
    const old = process.umask(0o077);
    try {
      const file = path.join(dir, 'a/b/c.txt');
      writeFileAtomic(file, 'hello');
      expect(readFileSync(file, 'utf8')).toBe('hello');
      expect(statSync(file).mode & 0o777).toBe(0o644);
      writeFileSync(path.join(dir, 'a/b/other'), 'x');
      writeFileAtomic(file, 'again');
      expect(readFileSync(file, 'utf8')).toBe('again');
      expect(readdirSync(path.join(dir, 'a/b')).sort()).toEqual(['c.txt', 'other']);
    } finally {
      process.umask(old);
    }
  });

  it('replaces the file whole: a reader holding the old one keeps the old content', () => {
    const file = path.join(dir, 'swap.txt');
    writeFileAtomic(file, 'old');
    const before = statSync(file).ino;
    writeFileAtomic(file, 'new');
    expect(statSync(file).ino).not.toBe(before); // a new inode: renamed over, not rewritten
  });

  it('a failure leaves no temp file and names the reason', () => {
    const blocker = path.join(dir, 'blocker');
    writeFileSync(blocker, 'a file, not a directory');
    expect(() => writeFileAtomic(path.join(blocker, 'x.txt'), 'x')).toThrow(/ENOTDIR|EEXIST/);
  });

  it('ConfigFiles: relative names against the cwd; unchanged content is not rewritten', () => {
    const files = new ConfigFiles(dir);
    expect(files.write([{ path: 'rel/one.txt', content: '1' }]).written).toEqual([path.join(dir, 'rel/one.txt')]);
    expect(files.write([{ path: 'rel/one.txt', content: '1' }]).written).toEqual([]);
    expect(files.write([{ path: 'rel/one.txt', content: '2' }]).written).toHaveLength(1);
    const { failed } = files.write([{ path: 'blocker/x', content: '' }]);
    expect(failed[0].path).toBe(path.join(dir, 'blocker/x'));
  });
});

describe('RestartScheduler', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function scheduler(opts: { jitterMs?: number; random?: () => number; restartMs?: number; fail?: boolean } = {}) {
    const restarts: number[] = [];
    const errors: string[] = [];
    const s = new RestartScheduler({
      quietMs: 50,
      maxWaitMs: 500,
      jitterMs: opts.jitterMs ?? 0,
      random: opts.random,
      restart: async () => {
        restarts.push(Date.now());
        await new Promise((resolve) => setTimeout(resolve, opts.restartMs ?? 0));
        if (opts.fail) throw new Error('spawn blew up');
      },
      onError: (err) => errors.push(err.message),
    });
    return { s, restarts, errors };
  }

  it('H3: a restart that throws is reported, never swallowed; the next request still restarts', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, restarts, errors } = scheduler({ fail: true });
    s.request();
    await vi.advanceTimersByTimeAsync(1000);
    expect(errors).toEqual(['spawn blew up']);
    s.request();
    await vi.advanceTimersByTimeAsync(1000);
    expect(restarts).toHaveLength(2);
    expect(errors).toHaveLength(2);
  });

  it('10 requests within 100 ms: one restart, after the burst went quiet', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, restarts } = scheduler();
    for (let i = 0; i < 10; i++) {
      s.request();
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(restarts).toEqual([]);
    await vi.advanceTimersByTimeAsync(1000);
    expect(restarts).toEqual([140]); // 50 ms after the last request (at 90)
  });

  it('an endless stream of requests still restarts within maxWaitMs', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, restarts } = scheduler();
    for (let i = 0; i < 100; i++) {
      s.request();
      await vi.advanceTimersByTimeAsync(20);
    }
    expect(restarts[0]).toBe(500);
  });

  it('requests during a restart make exactly one more, after it', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, restarts } = scheduler({ restartMs: 300 });
    s.request();
    await vi.advanceTimersByTimeAsync(100); // the restart runs from 50 to 350
    s.request();
    s.request();
    await vi.advanceTimersByTimeAsync(2000);
    expect(restarts).toEqual([50, 400]);
  });

  it('the jitter is a random delay within WAYPOINT_CEB_RESTART_JITTER, on top', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, restarts } = scheduler({ jitterMs: 1000, random: () => 0.75 });
    s.request();
    await vi.advanceTimersByTimeAsync(5000);
    expect(restarts).toEqual([800]);
  });

  it('closed: pending and later requests do nothing', async () => {
    vi.useFakeTimers({ now: 0 });
    const { s, restarts } = scheduler();
    s.request();
    s.close();
    s.request();
    await vi.advanceTimersByTimeAsync(5000);
    expect(restarts).toEqual([]);
  });
});
