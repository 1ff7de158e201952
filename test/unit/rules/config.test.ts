// The rules of config vars (names, paths, values, signals) and how scopes resolve: pure logic
// shared by the server and the ctl.
import { describe, expect, it } from 'vitest';
import { resolve, type StoredVar, toWire, view } from '../../../src/server/config/resolve.js';
import {
  envNameProblem,
  filePathProblem,
  isUtf8,
  MAX_VALUE_BYTES,
  parseSignalName,
  valueProblem,
} from '../../../src/rules/config.js';

describe('envNameProblem', () => {
  it('takes shell-style names', () => {
    for (const name of ['A', '_', 'a_b', 'PATH2', '_X9', 'x'.repeat(256)]) expect(envNameProblem(name), name).toBeUndefined();
  });
  it('refuses empty, leading digits, punctuation, spaces, "=" and overlong names', () => {
    for (const name of ['', '1A', 'A-B', 'A B', 'A=B', 'A.B', 'É', 'x'.repeat(257)]) expect(envNameProblem(name), name).toBeDefined();
  });
});

describe('envNameProblem (L4)', () => {
  it('L4: refuses __proto__, constructor and prototype with a clear message, and takes look-alikes', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) expect(envNameProblem(name), name).toMatch(/is reserved/);
    for (const name of ['__PROTO__', 'Constructor', 'PROTOTYPE', '__proto', 'prototype_1']) expect(envNameProblem(name), name).toBeUndefined();
  });
});

describe('filePathProblem', () => {
  it('takes absolute and relative paths', () => {
    for (const p of ['/etc/app.conf', 'config.yml', './a/b.txt', '../shared/x', 'dir/.hidden', 'a b/ü.txt']) {
      expect(filePathProblem(p), p).toBeUndefined();
    }
  });
  it('refuses what cannot name a file', () => {
    for (const p of ['', 'dir/', '/', '.', '..', 'a/..', 'a/.', 'a\0b', `/${'x'.repeat(4096)}`]) expect(filePathProblem(p), p).toBeDefined();
  });
});

describe('valueProblem', () => {
  const b = (s: string | number[]) => Buffer.from(s as string);
  it('refuses empty values (unset on the wire), oversize, invalid UTF-8, and NUL in env values', () => {
    expect(valueProblem('static', 'A', b(''))).toMatch(/empty/);
    expect(valueProblem('file', 'f', b(''))).toMatch(/empty/);
    expect(valueProblem('static', 'A', Buffer.alloc(MAX_VALUE_BYTES + 1, 'a'))).toMatch(/at most/);
    expect(valueProblem('file', 'f', b([0xff]))).toMatch(/UTF-8/);
    expect(valueProblem('static', 'A', b('a\0b'))).toMatch(/NUL/);
    expect(valueProblem('internal', 'A', b('a\0b'))).toMatch(/NUL/);
  });
  it('takes any UTF-8, and NUL in file content', () => {
    expect(valueProblem('static', 'A', b('x=y ✓ \u{1F600}'))).toBeUndefined();
    expect(valueProblem('file', 'f', b('a\0b\r\n'))).toBeUndefined();
    expect(valueProblem('static', 'A', Buffer.alloc(MAX_VALUE_BYTES, 'a'))).toBeUndefined();
  });
  it('isUtf8 tells truncated and overlong sequences apart from text', () => {
    expect(isUtf8(Buffer.from('ü'))).toBe(true);
    expect(isUtf8(Buffer.from([0xc3]))).toBe(false);
    expect(isUtf8(Buffer.from([0xc0, 0xaf]))).toBe(false);
  });
});

describe('parseSignalName', () => {
  it('normalises names with or without SIG, in any case; empty means none', () => {
    expect(parseSignalName('usr2')).toEqual({ ok: true, signal: 'SIGUSR2' });
    expect(parseSignalName('SigHup')).toEqual({ ok: true, signal: 'SIGHUP' });
    expect(parseSignalName(' SIGTERM ')).toEqual({ ok: true, signal: 'SIGTERM' });
    expect(parseSignalName('')).toEqual({ ok: true, signal: '' });
  });
  it('refuses unknown names, numbers, and signals an app cannot handle', () => {
    for (const s of ['SIGNOPE', '10', 'USR', 'KILL', 'SIGSTOP']) expect(parseSignalName(s).ok, s).toBe(false);
  });
});

const v = (app: string, name: string, value: string, kind: StoredVar['kind'] = 'static'): StoredVar => ({
  app,
  name,
  kind,
  value: Buffer.from(value),
  updatedAt: 1,
});

describe('resolve', () => {
  it('lets the app win over a global var of the same name, whatever the kinds, sorted by name', () => {
    const resolved = resolve([v('', 'B', 'g'), v('', 'A', 'g'), v('', 'C', 'g', 'internal')], [v('web', 'C', 'a'), v('web', '/f', 'x', 'file')]);
    expect(resolved.map((x) => [x.name, x.app, x.value.toString()])).toEqual([
      ['/f', 'web', 'x'],
      ['A', '', 'g'],
      ['B', '', 'g'],
      ['C', 'web', 'a'],
    ]);
    expect(resolved.find((x) => x.name === 'C')!.kind).toBe('static');
  });

  it('view keeps both, the app one first, the global one marked overridden', () => {
    expect(view([v('', 'A', 'g'), v('', 'B', 'g')], [v('web', 'A', 'a')]).map((x) => [x.name, x.app, x.overridden])).toEqual([
      ['A', 'web', false],
      ['A', '', true],
      ['B', '', false],
    ]);
  });

  it('toWire gives Waypoint ConfigVars: static values, internal and name_is_path flags', () => {
    expect(toWire([v('', 'A', '1'), v('', 'I', '2', 'internal'), v('', '/f', 'ü', 'file')])).toEqual([
      { name: 'A', static: '1', internal: false, name_is_path: false },
      { name: 'I', static: '2', internal: true, name_is_path: false },
      { name: '/f', static: 'ü', internal: false, name_is_path: true },
    ]);
  });
});
