// Dynamic config's pure parts: sources merged by scope, the null source, the error policy's
// state machine, and the registry's failures.
import { describe, expect, it } from 'vitest';
import { mergeSources } from '../../../../src/config/dynamic/merge.js';
import { DYNAMIC_SOURCE_TYPES } from '../../../../src/rules/dynamic.js';
import { applyResult, failureToLog, newState, redefined } from '../../../../src/config/dynamic/policy.js';
import { loadSource, SOURCE_TYPES } from '../../../../src/config/dynamic/registry.js';
import { create as createNull } from '../../../../src/config/dynamic/sources/null.js';
import { SourceSettingsError } from '../../../../src/config/dynamic/source.js';
import { dynamicVars, resolveConfig } from '../../../../src/config/resolve.js';
import type { ConfigVar__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import type { ConfigSource__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/ConfigSource.js';
import { recordingLogger } from '../../../helpers/fake-session.js';

function src(type: string, config: Record<string, string>, scope?: 'global' | 'project' | 'application', del = false): ConfigSource__Output {
  return { type, config, delete: del, hash: '0', workspace: null, ...(scope && { scope, [scope]: {} }) } as unknown as ConfigSource__Output;
}

describe('mergeSources', () => {
  it('for each type the most specific scope wins, whole (not key by key)', () => {
    const merged = mergeSources([
      src('vault', { addr: 'https://app', token: 'a' }, 'application'),
      src('vault', { addr: 'https://global', namespace: 'ns' }, 'global'),
      src('vault', { addr: 'https://project' }, 'project'),
      src('consul', { addr: 'c' }, 'global'),
    ]);
    expect(merged.get('vault')).toEqual({ addr: 'https://app', token: 'a' });
    expect(merged.get('consul')).toEqual({ addr: 'c' });
  });

  it('without scopes the order given decides (the last wins); a deleted source is none', () => {
    const merged = mergeSources([src('null', { 'values.a': '1' }), src('null', { 'values.a': '2' }), src('null', { 'values.a': '3' }, undefined, true)]);
    expect(merged.get('null')).toEqual({ 'values.a': '2' });
    expect(mergeSources([src('x', {}, 'global', true)]).has('x')).toBe(false);
  });
});

describe('the null source', () => {
  const { logger } = recordingLogger();
  const context = { env: {}, logger, refresh: () => {} };
  const read = (settings: Record<string, string>, configs: Array<Record<string, string>>) =>
    createNull(settings, context).read(
      configs.map((config, i) => ({ name: `V${i}`, config })),
      new AbortController().signal,
    );

  it('static_value, config_key from values (JSON or values.KEY), and its failures', async () => {
    const results = await read({ values: '{"a":"from-json","b":"json-b"}', 'values.b': 'flat-b' }, [
      { static_value: 'fixed' },
      { config_key: 'a' },
      { config_key: 'b' },
      { config_key: 'nope' },
      {},
    ]);
    expect(results).toEqual([
      { ok: true, value: 'fixed' },
      { ok: true, value: 'from-json' },
      { ok: true, value: 'flat-b' },
      { ok: false, failure: 'not-found', message: 'the null source has no value for config_key "nope"' },
      { ok: false, failure: 'invalid', message: 'a null variable needs static_value or config_key' },
    ]);
  });

  it('settings it cannot use are a SourceSettingsError', () => {
    expect(() => createNull({ values: 'not json' }, context)).toThrow(SourceSettingsError);
    expect(() => createNull({ values: '[1]' }, context)).toThrow(SourceSettingsError);
  });
});

describe('the error policy', () => {
  const ok = (value: string) => ({ ok: true as const, value });
  const fail = (failure: 'not-found' | 'denied' | 'transient' | 'invalid', message = 'boom') => ({ ok: false as const, failure, message });

  it('a first failure leaves the var out; a good read sets it', () => {
    const first = applyResult(newState(), fail('transient'), 1);
    expect(first.consequence).toBe('left-out');
    expect(first.state.value).toBeUndefined();
    const good = applyResult(first.state, ok('v1'), 2);
    expect(good).toEqual({ state: { value: 'v1', resolvedAt: 2, stale: false, logged: undefined }, consequence: 'set' });
  });

  it.each(['transient', 'denied', 'invalid'] as const)('later, %s keeps the last good value and its time', (failure) => {
    const good = applyResult(newState(), ok('v1'), 10).state;
    const t = applyResult(good, fail(failure), 20);
    expect(t.consequence).toBe('kept');
    expect(t.state).toMatchObject({ value: 'v1', resolvedAt: 10, error: { failure, message: 'boom' } });
  });

  it('not-found drops the value', () => {
    const good = applyResult(newState(), ok('v1'), 10).state;
    const t = applyResult(good, fail('not-found'), 20);
    expect(t.consequence).toBe('dropped');
    expect(t.state.value).toBeUndefined();
  });

  it('a redefined var serves its old value until read; a failure then drops it', () => {
    const good = applyResult(newState(), ok('v1'), 10).state;
    const stale = redefined(good);
    expect(stale.value).toBe('v1');
    expect(applyResult(stale, ok('v2'), 20).state.value).toBe('v2');
    const t = applyResult(stale, fail('transient'), 20);
    expect(t.consequence).toBe('dropped');
    expect(t.state.value).toBeUndefined();
  });

  it('each distinct failure is said once; after a good read the same failure is said again', () => {
    let s = applyResult(newState(), fail('transient', 'down'), 1).state;
    let said = failureToLog(s);
    expect(said.log).toBe(true);
    s = applyResult(said.state, fail('transient', 'down'), 2).state;
    said = failureToLog(s);
    expect(said.log).toBe(false);
    s = applyResult(said.state, fail('denied', '403'), 3).state;
    said = failureToLog(s);
    expect(said.log).toBe(true);
    s = applyResult(said.state, ok('x'), 4).state;
    s = applyResult(s, fail('denied', '403'), 5).state;
    expect(failureToLog(s).log).toBe(true);
  });
});

describe('the registry', () => {
  it('knows the five types; an unknown one and a module that does not load are one-line errors', async () => {
    expect(SOURCE_TYPES).toEqual(['null', 'vault', 'kubernetes', 'consul', 'aws-ssm']);
    // The server's and the ctl's rule lists the same types.
    expect(SOURCE_TYPES).toEqual(DYNAMIC_SOURCE_TYPES);
    await expect(loadSource('etcd')).rejects.toThrow('unknown config source type "etcd": this entrypoint reads null, vault, kubernetes, consul, aws-ssm');
    expect(typeof (await loadSource('null'))).toBe('function');
    // In this tree a source module may be missing (each is a chunk of its own): its failure, not a crash.
    const vault = await loadSource('vault').then(
      () => 'loaded',
      (err: Error) => err.message,
    );
    expect(['loaded', 'the vault source is not part of this build of the entrypoint']).toContain(vault);
  });
});

describe('resolveConfig with dynamic values', () => {
  const dyn = (name: string, extra: Partial<ConfigVar__Output> = {}): ConfigVar__Output =>
    ({ name, internal: false, name_is_path: false, value: 'dynamic', dynamic: { from: 'null', config: { static_value: 'x' } }, ...extra }) as ConfigVar__Output;
  const stat = (name: string, value: string): ConfigVar__Output => ({ name, internal: false, name_is_path: false, value: 'static', static: value }) as ConfigVar__Output;

  it('an internal dynamic value interpolates into a static one; a backend value is verbatim; a missing one is left out', () => {
    const r = resolveConfig(
      [dyn('PASS', { internal: true }), stat('URL', 'db://u:${config.internal.PASS}@h'), dyn('RAW'), dyn('EMPTY'), dyn('MISSING'), dyn('conf/x', { name_is_path: true })],
      new Map([
        ['PASS', 'p@ss'],
        ['RAW', '${config.internal.PASS}'],
        ['EMPTY', ''],
        ['conf/x', 'file body'],
      ]),
    );
    expect(Object.fromEntries(r.env)).toEqual({ URL: 'db://u:p@ss@h', RAW: '${config.internal.PASS}', EMPTY: '' });
    expect(r.files).toEqual([{ path: 'conf/x', content: 'file body' }]);
    expect(r.dynamic).toEqual([{ name: 'MISSING', from: 'null' }]);
  });

  it('dynamicVars lists what the resolver reads', () => {
    expect(dynamicVars([dyn('A', { internal: true }), stat('B', 'b')])).toEqual([
      { name: 'A', from: 'null', config: { static_value: 'x' }, internal: true, file: false },
    ]);
  });
});
