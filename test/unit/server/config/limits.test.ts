// What an app's config weighs as an instance gets it: the expanded env against Linux's exec
// limits (checked against a real execve here) and the encoded message against the gRPC limit
// (checked against the real encoder); and AppConfig's refusal rule on a real store.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppConfig } from '../../../../src/server/config/app-config.js';
import { SqliteConfigStore } from '../../../../src/server/store/sqlite/config-vars.js';
import { openDb } from '../../../../src/server/store/sqlite/db.js';
import { InstanceRegistry } from '../../../../src/server/instances/registry.js';
import { silentLog } from '../../../../src/server/log.js';
import { SqliteStore } from '../../../../src/server/store/sqlite/store.js';
import {
  MAX_CONFIG_MESSAGE_BYTES,
  MAX_ENV_BYTES,
  MAX_ENV_STRING_BYTES,
  messageBytes,
  weigh,
  weightProblem,
} from '../../../../src/server/config/limits.js';
import { type StoredVar, toWire } from '../../../../src/server/config/resolve.js';
import { protocol } from '../../../../src/protocol/load.js';

const v = (name: string, value: string | Buffer, kind: StoredVar['kind'] = 'static'): StoredVar => ({
  app: 'web',
  name,
  kind,
  value: Buffer.isBuffer(value) ? value : Buffer.from(value),
  updatedAt: 1,
});

/** What grpc-js puts on the wire for this config (the message, without gRPC's 5-byte frame). */
function encoded(vars: StoredVar[], signal: string): number {
  const method = protocol().hashicorp.waypoint.Waypoint.service.EntrypointConfig as { responseSerialize(v: unknown): Buffer };
  return method.responseSerialize({ config: { env_vars: toWire(vars), file_change_signal: signal } }).length;
}

describe('messageBytes', () => {
  it('M2: is exactly the encoded size, per-var tags and lengths counted, for every kind and length class', () => {
    const cases: Array<[StoredVar[], string]> = [
      [[], ''],
      [[v('A', '1')], ''],
      [[v('A', '1'), v('I', 'secret', 'internal'), v('/etc/f', 'ü\0x', 'file')], 'SIGHUP'],
      [[v('L', 'x'.repeat(127)), v('M', 'x'.repeat(128)), v('N', 'x'.repeat(16_384)), v('O', 'x'.repeat(300_000))], ''],
      [Array.from({ length: 5000 }, (_, i) => v(`V${i}`, 'x', i % 2 ? 'internal' : 'static')), 'SIGUSR2'],
    ];
    for (const [vars, signal] of cases) expect(messageBytes(vars, signal), `${vars.length} vars`).toBe(encoded(vars, signal));
  });

  it('M2: counts what names and values alone miss: 200 000 one-byte vars are ~3 MB of text but over 3 MiB encoded', () => {
    const vars = Array.from({ length: 200_000 }, (_, i) => v(`V${String(i).padStart(6, '0')}`, 'x', 'internal'));
    const text = vars.reduce((n, x) => n + x.name.length + x.value.length, 0);
    expect(text).toBeLessThan(3 * 1024 * 1024); // what the old check counted: accepted
    const weight = weigh(vars, '');
    expect(weight.envBytes).toBe(0); // internal: never in the env
    expect(weight.messageBytes).toBeGreaterThan(MAX_CONFIG_MESSAGE_BYTES);
    expect(weightProblem(weight, 'app web')).toMatch(/^app web: the config message would be \d+ bytes encoded, over the 3145728 \(3 MiB\)/);
  });
});

describe('weigh: the env as the entrypoint builds it', () => {
  it('H2: expands ${config.internal.X} before counting, and leaves internal vars, files and WAYPOINT_LOG_LEVEL out', () => {
    const chunk = 'c'.repeat(100_000);
    const weight = weigh(
      [v('CHUNK', chunk, 'internal'), v('TWICE', '${config.internal.CHUNK}${config.internal.CHUNK}'), v('f', chunk, 'file'), v('WAYPOINT_LOG_LEVEL', 'debug')],
      '',
    );
    expect(weight.largest).toEqual({ name: 'TWICE', bytes: 'TWICE='.length + 200_000 + 1 });
    expect(weight.envBytes).toBe('TWICE='.length + 200_000 + 1 + 8);
    expect(weightProblem(weight, 'app web')).toMatch(/^app web: env var TWICE would be 200007 bytes once expanded .* over Linux's 131072 per env string \(MAX_ARG_STRLEN\)/);
  });

  it('H2: the limit per string is the kernel\'s: the largest string accepted by the check execs, one byte more fails with E2BIG', () => {
    const fits = 'x'.repeat(MAX_ENV_STRING_BYTES - 'BIG='.length - 1);
    expect(weightProblem(weigh([v('BIG', fits)], ''), 'app web')).toBeUndefined();
    expect(weightProblem(weigh([v('BIG', `${fits}x`)], ''), 'app web')).toMatch(/MAX_ARG_STRLEN/);
    expect(spawnSync('/bin/true', { env: { BIG: fits } }).error).toBeUndefined();
    expect((spawnSync('/bin/true', { env: { BIG: `${fits}x` } }).error as NodeJS.ErrnoException).code).toBe('E2BIG');
  });

  it('H2: 22 vars of 100 KB each are refused in total (1 MiB of the 2 MiB ARG_MAX), 10 fit', () => {
    const vars = (n: number) => Array.from({ length: n }, (_, i) => v(`BIG_${i}`, 'b'.repeat(100_000)));
    expect(weightProblem(weigh(vars(10), ''), 'app web')).toBeUndefined();
    expect(weigh(vars(22), '').envBytes).toBeGreaterThan(MAX_ENV_BYTES);
    expect(weightProblem(weigh(vars(22), ''), 'app web')).toMatch(/^app web: the env would be \d+ bytes once expanded .* over the 1048576 \(1 MiB\)/);
  });

  it('H2: counts each tiny var with its NUL and pointer: 390 000 of them (t_bloat) are ~7 MB of env', () => {
    const weight = weigh(Array.from({ length: 390_000 }, (_, i) => v(`V${String(i).padStart(6, '0')}`, 'x')), '');
    expect(weight.envBytes).toBe(390_000 * ('V000000=x'.length + 1 + 8));
    expect(weightProblem(weight, 'app web')).toMatch(/the env would be/);
  });

  it('counts the value a reference to a missing internal var leaves (empty), and UTF-8 in bytes', () => {
    expect(weigh([v('A', 'ü${config.internal.NOPE}')], '').envBytes).toBe('A=ü'.length + 1 + 1 + 8);
  });
});

describe('AppConfig.change on a config stored before the limits (H2)', () => {
  it('H2: a config already over the env limit can be shrunk var by var, never grown', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-config-limits-'));
    const db = openDb(path.join(dir, 'state.db'));
    try {
      const store = new SqliteConfigStore(db);
      const config = new AppConfig(new SqliteStore(db), store, new InstanceRegistry(), silentLog);
      const big = (name: string) => ({ name, kind: 'static' as const, value: Buffer.alloc(100_000, 'b') });
      // As an older server let it in: 12 × 100 KB, over the 1 MiB of env.
      await store.apply('web', Array.from({ length: 12 }, (_, i) => big(`B${i}`)), []);
      await expect(config.change('web', [{ name: 'SMALL', kind: 'static', value: Buffer.from('1') }], [])).rejects.toThrow(/the env would be/);
      await config.change('web', [], ['B0']); // still over: allowed, it shrinks
      await config.change('web', [big('B1')], []); // the same again: grows nothing
      await config.change('web', [], ['B1', 'B2']); // now within
      await config.change('web', [{ name: 'SMALL', kind: 'static', value: Buffer.from('1') }], []);
    } finally {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
