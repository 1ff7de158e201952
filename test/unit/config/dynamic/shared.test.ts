// The pure parts the dynamic sources share: RFC 6901 pointers, settings from the environment,
// and the arithmetic of backoff and leases.
import { describe, expect, it } from 'vitest';
import { SourceSettingsError } from '../../../../src/config/dynamic/source.js';
import { formatPointer, getPointer, parsePointer, PointerError, valueString } from '../../../../src/config/dynamic/sources/shared/pointer.js';
import { parseBool, parseDuration, pick } from '../../../../src/config/dynamic/sources/shared/settings.js';
import { backoffMs, graceMs, planLease, renewDelayMs } from '../../../../src/config/dynamic/sources/shared/timing.js';

describe('RFC 6901 pointers', () => {
  // The examples of RFC 6901 section 5
  const doc = { foo: ['bar', 'baz'], '': 0, 'a/b': 1, 'c%d': 2, 'e^f': 3, 'g|h': 4, 'i\\j': 5, 'k"l': 6, ' ': 7, 'm~n': 8 };
  it.each([
    ['/foo', ['bar', 'baz']],
    ['/foo/0', 'bar'],
    ['/', 0],
    ['/a~1b', 1],
    ['/c%d', 2],
    ['/e^f', 3],
    ['/g|h', 4],
    ['/i\\j', 5],
    ['/k"l', 6],
    ['/ ', 7],
    ['/m~0n', 8],
  ])('%s', (pointer, expected) => {
    expect(getPointer(doc, parsePointer(pointer))).toEqual({ found: true, value: expected });
  });

  it('takes a bare name as one token, as Waypoint does', () => {
    expect(parsePointer('password')).toEqual(['password']);
    expect(parsePointer('/data/password')).toEqual(['data', 'password']);
  });

  it('decodes ~01 as ~1, not /', () => {
    expect(parsePointer('/~01')).toEqual(['~1']);
    expect(formatPointer(['~1', 'a/b'])).toBe('/~01/a~1b');
  });

  it('refuses a ~ that is not ~0 or ~1', () => {
    expect(() => parsePointer('/a~2')).toThrow(PointerError);
    expect(() => parsePointer('/a~')).toThrow(PointerError);
  });

  it('names the first missing part', () => {
    expect(getPointer({ data: { a: 1 } }, parsePointer('/data/b/c'))).toEqual({ found: false, missing: '/data/b' });
    expect(getPointer({ l: [1] }, parsePointer('/l/1'))).toEqual({ found: false, missing: '/l/1' });
    expect(getPointer({ l: [1] }, parsePointer('/l/01'))).toEqual({ found: false, missing: '/l/01' });
    expect(getPointer({ l: [1] }, parsePointer('/l/-'))).toEqual({ found: false, missing: '/l/-' });
    expect(getPointer({ s: 'text' }, parsePointer('/s/0'))).toEqual({ found: false, missing: '/s/0' });
    expect(getPointer({}, parsePointer('/toString'))).toEqual({ found: false, missing: '/toString' });
  });

  it('gives values as strings: text as is, the rest as JSON, null as empty', () => {
    expect([valueString('x'), valueString(5), valueString(true), valueString(null), valueString({ a: [1] })]).toEqual(['x', '5', 'true', '', '{"a":[1]}']);
  });
});

describe('settings', () => {
  it('prefers the setting, then the first environment variable set, empty counting as unset', () => {
    expect(pick({ addr: 'a' }, { VAULT_ADDR: 'b' }, 'addr', 'VAULT_ADDR')).toBe('a');
    expect(pick({ addr: '' }, { X: '', VAULT_ADDR: 'b' }, 'addr', 'X', 'VAULT_ADDR')).toBe('b');
    expect(pick({}, {}, 'addr', 'VAULT_ADDR')).toBeUndefined();
  });

  it('reads booleans as Go does and durations with units or as seconds', () => {
    expect(['1', 't', 'TRUE', 'false', '0'].map((v) => parseBool(v, 'x'))).toEqual([true, true, true, false, false]);
    expect(() => parseBool('yes', 'skip_verify')).toThrow(SourceSettingsError);
    expect([parseDuration('10s', 'x', 0), parseDuration('250ms', 'x', 0), parseDuration('2m', 'x', 0), parseDuration('30', 'x', 0), parseDuration(undefined, 'x', 7)]).toEqual([
      10_000, 250, 120_000, 30_000, 7,
    ]);
    expect(() => parseDuration('soon', 'timeout', 0)).toThrow(/timeout must be a duration/);
    expect(() => parseDuration('0s', 'timeout', 0)).toThrow(SourceSettingsError);
  });
});

describe('backoff and leases', () => {
  it('doubles the backoff up to its cap, within ±20%', () => {
    expect([1, 2, 3, 4, 10].map((a) => backoffMs(a, 1000, 5000, () => 0.5))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(backoffMs(1, 1000, 5000, () => 0)).toBe(800);
    expect(backoffMs(1, 1000, 5000, () => 1)).toBe(1200);
  });

  it('renews at two thirds of a lease', () => {
    expect(renewDelayMs(3)).toBe(2000);
    expect(planLease(3600, 3600, true)).toEqual({ action: 'renew', inMs: 2_400_000 });
  });

  it('replaces a lease that cannot be renewed, or whose grant fell short (the max TTL), before it ends', () => {
    expect(planLease(60, 60, false)).toEqual({ action: 'replace', inMs: 54_000 });
    expect(planLease(60, 20, true)).toEqual({ action: 'replace', inMs: 18_000 });
    expect(planLease(3, 1, true)).toEqual({ action: 'replace', inMs: 500 });
    expect(planLease(3, 0, true)).toEqual({ action: 'replace', inMs: 0 });
  });

  it('keeps a grace of a tenth of the lease, between half a second and five minutes', () => {
    expect([graceMs(1), graceMs(60), graceMs(86_400)]).toEqual([500, 6000, 300_000]);
  });
});
