// The resolver with fake sources and fake timers: sources made lazily per type, equal requests
// read once, the refresh schedule (first at once, 500 ms after a change settles, then 15 s ± 3 s,
// and when a source asks), failures said once, values kept or dropped by the policy, status.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DynamicVar, Settings } from '../../../../src/config/dynamic/merge.js';
import { DynamicResolver, QUIET_MS, READ_TIMEOUT_MS, REFRESH_JITTER_MS, REFRESH_MS, type VarStatus } from '../../../../src/config/dynamic/resolver.js';
import type { DynamicRequest, DynamicResult, SourceContext, SourceFactory } from '../../../../src/config/dynamic/source.js';
import { SourceSettingsError } from '../../../../src/config/dynamic/source.js';
import { recordingLogger } from '../../../helpers/fake-session.js';

/** A backend: key -> value, or a failure; records every read. */
class FakeBackend {
  data = new Map<string, DynamicResult>();
  reads: DynamicRequest[][] = [];
  made: Settings[] = [];
  closed = 0;
  context?: SourceContext;
  factory: SourceFactory = (settings, context) => {
    this.made.push(settings);
    this.context = context;
    return {
      read: async (requests) => {
        this.reads.push([...requests]);
        return requests.map((r) => this.data.get(r.config.key) ?? { ok: false, failure: 'not-found', message: `no ${r.config.key}` });
      },
      close: () => this.closed++,
    };
  };
  set(key: string, value: string) {
    this.data.set(key, { ok: true, value });
  }
}

const dv = (name: string, key: string, from = 'fake'): DynamicVar => ({ name, from, config: { key }, internal: false, file: false });

function setup(random = () => 0.5) {
  const backend = new FakeBackend();
  const { logger, records } = recordingLogger();
  const onValues = vi.fn();
  const statuses: VarStatus[][] = [];
  const loads: string[] = [];
  const resolver = new DynamicResolver({
    logger,
    env: {},
    random,
    onValues,
    onStatus: (s) => statuses.push(s),
    load: async (type) => {
      loads.push(type);
      if (type === 'broken') throw new Error('the broken source could not be loaded: Cannot find module');
      return backend.factory;
    },
  });
  const warnings = () => records.filter((r) => r.level === 'warn').map((r) => r.message);
  return { backend, resolver, onValues, statuses, loads, warnings, records };
}

const sources = (entries: Record<string, Settings> = { fake: { addr: 'a' } }) => new Map(Object.entries(entries));

describe('DynamicResolver', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('the first config is read at once, equal requests once, each var given its value', async () => {
    const t = setup();
    t.backend.set('db', 'pw');
    t.backend.set('other', 'o');
    const done = t.resolver.update([dv('A', 'db'), dv('B', 'db'), dv('C', 'other')], sources());
    await vi.advanceTimersByTimeAsync(0);
    await done;
    expect(t.backend.reads).toEqual([[{ name: 'A', config: { key: 'db' } }, { name: 'C', config: { key: 'other' } }]]);
    expect(Object.fromEntries(t.resolver.values())).toEqual({ A: 'pw', B: 'pw', C: 'o' });
    expect(t.backend.made).toEqual([{ addr: 'a' }]);
    expect(t.onValues).toHaveBeenCalledTimes(1);
    expect(t.resolver.status()).toEqual([
      { name: 'A', source: 'fake', ok: true, message: '', resolvedAt: 1_000_000 },
      { name: 'B', source: 'fake', ok: true, message: '', resolvedAt: 1_000_000 },
      { name: 'C', source: 'fake', ok: true, message: '', resolvedAt: 1_000_000 },
    ]);
  });

  it('refreshes every 15 s ± jitter, and a changed value is told once', async () => {
    const t = setup(() => 0); // the earliest: 15 s - 3 s
    t.backend.set('db', 'v1');
    await Promise.all([t.resolver.update([dv('A', 'db')], sources()), vi.advanceTimersByTimeAsync(0)]);
    expect(t.backend.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(REFRESH_MS - REFRESH_JITTER_MS - 1);
    expect(t.backend.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(t.backend.reads).toHaveLength(2);
    expect(t.onValues).toHaveBeenCalledTimes(1); // unchanged: nothing to tell
    t.backend.set('db', 'v2');
    await vi.advanceTimersByTimeAsync(REFRESH_MS);
    expect(t.resolver.values().get('A')).toBe('v2');
    expect(t.onValues).toHaveBeenCalledTimes(2);
  });

  it('the jitter spreads the refresh between 12 and 18 s', async () => {
    const t = setup(() => 0.999);
    t.backend.set('db', 'v1');
    await Promise.all([t.resolver.update([dv('A', 'db')], sources()), vi.advanceTimersByTimeAsync(0)]);
    await vi.advanceTimersByTimeAsync(REFRESH_MS + REFRESH_JITTER_MS - 10);
    expect(t.backend.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(t.backend.reads).toHaveLength(2);
  });

  it('a later config change is read after 500 ms of quiet, a burst once; an equal config is no change', async () => {
    const t = setup();
    t.backend.set('a', '1');
    t.backend.set('b', '2');
    t.backend.set('c', '3');
    await Promise.all([t.resolver.update([dv('A', 'a')], sources()), vi.advanceTimersByTimeAsync(0)]);
    void t.resolver.update([dv('A', 'a'), dv('B', 'b')], sources());
    await vi.advanceTimersByTimeAsync(QUIET_MS - 100);
    const last = t.resolver.update([dv('A', 'a'), dv('B', 'b'), dv('C', 'c')], sources());
    await vi.advanceTimersByTimeAsync(QUIET_MS - 1);
    expect(t.backend.reads).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    await last;
    expect(t.backend.reads).toHaveLength(2);
    expect(Object.fromEntries(t.resolver.values())).toEqual({ A: '1', B: '2', C: '3' });
    await t.resolver.update([dv('A', 'a'), dv('B', 'b'), dv('C', 'c')], sources({ fake: { addr: 'a' } }));
    await vi.advanceTimersByTimeAsync(QUIET_MS);
    expect(t.backend.reads).toHaveLength(2);
  });

  it('new settings make a new source (the old one closed); a removed type closes its source', async () => {
    const t = setup();
    t.backend.set('a', '1');
    await Promise.all([t.resolver.update([dv('A', 'a')], sources()), vi.advanceTimersByTimeAsync(0)]);
    const next = t.resolver.update([dv('A', 'a')], sources({ fake: { addr: 'b' } }));
    await vi.advanceTimersByTimeAsync(QUIET_MS);
    await next;
    expect(t.backend.made).toEqual([{ addr: 'a' }, { addr: 'b' }]);
    expect(t.backend.closed).toBe(1);
    await t.resolver.update([], sources());
    expect(t.backend.closed).toBe(2);
    expect(t.resolver.values().size).toBe(0);
    expect(t.resolver.status()).toEqual([]);
  });

  it('a transient failure keeps the value with no change told, said once; not-found drops it', async () => {
    const t = setup();
    t.backend.set('db', 'v1');
    await Promise.all([t.resolver.update([dv('A', 'db')], sources()), vi.advanceTimersByTimeAsync(0)]);
    t.backend.data.set('db', { ok: false, failure: 'transient', message: 'connect ECONNREFUSED 127.0.0.1:8200' });
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 4);
    expect(t.backend.reads.length).toBeGreaterThanOrEqual(4);
    expect(t.resolver.values().get('A')).toBe('v1');
    expect(t.onValues).toHaveBeenCalledTimes(1);
    expect(t.warnings()).toEqual([
      'dynamic config var A from the fake source failed: connect ECONNREFUSED 127.0.0.1:8200; the app keeps its last good value',
    ]);
    expect(t.resolver.status()[0]).toMatchObject({ ok: false, message: 'connect ECONNREFUSED 127.0.0.1:8200', resolvedAt: 1_000_000 });
    t.backend.data.delete('db');
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 2);
    expect(t.resolver.values().has('A')).toBe(false);
    expect(t.onValues).toHaveBeenCalledTimes(2);
    expect(t.warnings()).toHaveLength(2);
    expect(t.warnings()[1]).toBe("dynamic config var A from the fake source failed: no db; its value is removed from the app's config");
  });

  it('a source asking for a refresh is read again at once', async () => {
    const t = setup();
    t.backend.set('db', 'v1');
    await Promise.all([t.resolver.update([dv('A', 'db')], sources()), vi.advanceTimersByTimeAsync(0)]);
    t.backend.set('db', 'v2');
    t.backend.context!.refresh();
    t.backend.context!.refresh();
    await vi.advanceTimersByTimeAsync(0);
    expect(t.backend.reads).toHaveLength(2);
    expect(t.resolver.values().get('A')).toBe('v2');
  });

  it('a module that does not load and settings a source refuses fail their vars, once each', async () => {
    const t = setup();
    const done = t.resolver.update([dv('A', 'x', 'broken'), dv('B', 'y', 'fake')], new Map());
    t.backend.factory = () => {
      throw new SourceSettingsError('the fake source needs addr');
    };
    await vi.advanceTimersByTimeAsync(0);
    await done;
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 3);
    expect(t.loads.filter((l) => l === 'broken').length).toBeGreaterThan(1);
    expect(t.warnings()).toEqual([
      "dynamic config var A from the broken source failed: the broken source could not be loaded: Cannot find module; the variable is left out of the app's config",
      "dynamic config var B from the fake source failed: the fake source needs addr; the variable is left out of the app's config",
    ]);
    expect(t.resolver.status().map((s) => [s.name, s.ok])).toEqual([
      ['A', false],
      ['B', false],
    ]);
  });

  it('status is told on each change of state, a newer time alone at most once a minute', async () => {
    const t = setup();
    t.backend.set('db', 'v1');
    await Promise.all([t.resolver.update([dv('A', 'db')], sources()), vi.advanceTimersByTimeAsync(0)]);
    const after = t.statuses.length;
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 2); // two reads, the same state
    expect(t.statuses.length).toBe(after);
    await vi.advanceTimersByTimeAsync(REFRESH_MS * 3);
    expect(t.statuses.length).toBe(after + 1);
    t.backend.data.set('db', { ok: false, failure: 'denied', message: 'permission denied' });
    await vi.advanceTimersByTimeAsync(REFRESH_MS);
    expect(t.statuses.at(-1)).toEqual([{ name: 'A', source: 'fake', ok: false, message: 'permission denied', resolvedAt: expect.any(Number) }]);
  });
});

describe('DynamicResolver status', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('a var not read yet has no status; a removed one leaves it', async () => {
    const t = setup();
    t.backend.set('a', '1');
    t.backend.set('b', '2');
    await Promise.all([t.resolver.update([dv('A', 'a')], sources()), vi.advanceTimersByTimeAsync(0)]);
    void t.resolver.update([dv('A', 'a'), dv('B', 'b')], sources());
    expect(t.resolver.status().map((s) => s.name)).toEqual(['A']);
    await vi.advanceTimersByTimeAsync(QUIET_MS);
    expect(t.resolver.status().map((s) => s.name)).toEqual(['A', 'B']);
    void t.resolver.update([dv('B', 'b')], sources());
    expect(t.statuses.at(-1)?.map((s) => s.name)).toEqual(['B']);
  });
});

describe('DynamicResolver and a source that breaks its contract', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('a malformed result, a rejected read and no answer at all are failures of the vars, the resolver goes on', async () => {
    const t = setup();
    let mode: 'malformed' | 'reject' | 'hang' = 'malformed';
    t.backend.factory = () => ({
      read: (requests) => {
        if (mode === 'reject') return Promise.reject(new Error('boom'));
        if (mode === 'hang') return new Promise(() => {});
        return Promise.resolve(requests.map(() => ({ ok: true, value: 42 }) as unknown as DynamicResult));
      },
      close: () => {},
    });
    await Promise.all([t.resolver.update([dv('A', 'a')], sources()), vi.advanceTimersByTimeAsync(0)]);
    expect(t.resolver.status()[0]).toMatchObject({ ok: false, message: 'the fake source gave a malformed result' });
    mode = 'reject';
    await vi.advanceTimersByTimeAsync(REFRESH_MS + REFRESH_JITTER_MS);
    expect(t.resolver.status()[0]).toMatchObject({ ok: false, message: 'boom' });
    mode = 'hang';
    await vi.advanceTimersByTimeAsync(REFRESH_MS + REFRESH_JITTER_MS + READ_TIMEOUT_MS);
    expect(t.resolver.status()[0]).toMatchObject({ ok: false, message: 'the fake source gave no answer within 30 s' });
    expect(t.warnings()).toHaveLength(3);
  });
});
