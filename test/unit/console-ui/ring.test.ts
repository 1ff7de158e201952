// The logs page's ring of lines and the filtered view over it: bounded, counting what fell out,
// the view in step with the ring as it wraps.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilteredView, Ring } from '../../../src/console-ui/ring.js';

describe('Ring', () => {
  it('keeps the newest `capacity` items in order and counts the evicted', () => {
    const r = new Ring<number>(3);
    for (let i = 0; i < 5; i++) r.push(i * 10);
    expect([...r]).toEqual([20, 30, 40]);
    expect(r.evicted).toBe(2);
    expect(r.first).toBe(2);
    expect(r.at(1)).toBeUndefined();
    expect(r.at(2)).toBe(20);
    expect(r.at(5)).toBeUndefined();
    r.clear();
    expect([...r]).toEqual([]);
    expect(r.evicted).toBe(0);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new Ring(0)).toThrow(/capacity of 1 or more/);
  });

  it('a view over it equals filtering what the ring holds, whatever was pushed', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.integer({ min: 0, max: 9 }), { maxLength: 400 }), (cap, items) => {
        const r = new Ring<number>(cap);
        const even = (n: number) => n % 2 === 0;
        const v = new FilteredView(r, even);
        for (const it of items) {
          v.add(r.push(it), it);
          v.trim();
        }
        const expected = [...r].filter(even);
        expect(v.length).toBe(expected.length);
        expect(v.slice(0, v.length)).toEqual(expected);
        expect(v.slice(1, 3)).toEqual(expected.slice(1, 3));
        expect(new FilteredView(r, even).slice(0, Infinity)).toEqual(expected);
      }),
    );
  });

  it('a view of 10 000 lines a second for a minute stays bounded by the ring', () => {
    const r = new Ring<number>(50_000);
    const v = new FilteredView(r, () => true);
    for (let i = 0; i < 600_000; i++) {
      v.add(r.push(i), i);
      v.trim();
    }
    expect(v.length).toBe(50_000);
    expect(v.slice(0, 1)).toEqual([550_000]);
    expect(r.evicted).toBe(550_000);
    expect(v.dropped).toBe(550_000);
  });
});
