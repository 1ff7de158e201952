// ULIDs: 26 Crockford base32 characters, the time first, and ids made in the same millisecond
// sorting in the order they were made (the stores list tokens and deployments by id).
import { describe, expect, it } from 'vitest';
import { incremented, ulid } from '../../src/ids.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('ulid', () => {
  it('is 26 Crockford base32 characters, the time part first', () => {
    const id = ulid(1_700_000_000_000);
    expect(id).toMatch(ULID);
    expect(id.slice(0, 10)).toBe('01HF7YAT00'); // 1 700 000 000 000 ms in base 32
  });

  it('ids of the same millisecond sort in the order they were made, and differ', () => {
    const at = Date.now();
    const ids = Array.from({ length: 1000 }, () => ulid(at));
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(1000);
  });

  it('a later millisecond sorts after, whatever its random part', () => {
    const at = Date.now();
    for (let i = 0; i < 100; i++) expect(ulid(at + i) < ulid(at + i + 1)).toBe(true);
  });

  it('increments in base 32 with carries', () => {
    expect(incremented([0, 5])).toEqual([0, 6]);
    expect(incremented([3, 31, 31])).toEqual([4, 0, 0]);
  });
});
