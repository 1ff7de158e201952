// One timer for every config stream's inline keepalives: each stream beaten once per interval,
// the streams spread over the slots, a removed one never beaten again, no timer left when empty.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KeepaliveWheel, SLOTS } from '../../../../src/server/config/keepalive-wheel.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('KeepaliveWheel', () => {
  it('beats every stream once per interval, a SLOTSth of them per tick', () => {
    vi.useFakeTimers();
    const wheel = new KeepaliveWheel(1600);
    const beats = new Array<number>(64).fill(0);
    for (let i = 0; i < 64; i++) wheel.add(() => beats[i]!++);
    vi.advanceTimersByTime(100); // one tick: 1600 / SLOTS
    expect(beats.filter((n) => n === 1)).toHaveLength(64 / SLOTS);
    vi.advanceTimersByTime(1500);
    expect(beats.every((n) => n === 1)).toBe(true);
    vi.advanceTimersByTime(1600 * 3);
    expect(beats.every((n) => n === 4)).toBe(true);
    wheel.close();
  });

  it('never beats a removed stream again, and stops its timer when the last one goes', () => {
    vi.useFakeTimers();
    const wheel = new KeepaliveWheel(160);
    const kept = vi.fn();
    const gone = vi.fn();
    const removeKept = wheel.add(kept);
    const removeGone = wheel.add(gone);
    vi.advanceTimersByTime(160);
    removeGone();
    removeGone(); // twice is harmless
    vi.advanceTimersByTime(160 * 2);
    expect(gone).toHaveBeenCalledTimes(1);
    expect(kept).toHaveBeenCalledTimes(3);
    expect(wheel.size).toBe(1);
    removeKept();
    expect(wheel.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
    wheel.add(kept); // and starts again
    expect(vi.getTimerCount()).toBe(1);
    wheel.close();
    expect(vi.getTimerCount()).toBe(0);
  });

  it('lets a beat remove its own stream during a tick', () => {
    vi.useFakeTimers();
    const wheel = new KeepaliveWheel(160);
    const seen: string[] = [];
    const removeA: () => void = wheel.add(() => (seen.push('a'), removeA()));
    for (let i = 0; i < SLOTS; i++) wheel.add(() => seen.push('b'));
    vi.advanceTimersByTime(160 * 2);
    expect(seen.filter((s) => s === 'a')).toEqual(['a']);
    expect(seen.filter((s) => s === 'b')).toHaveLength(SLOTS * 2);
    wheel.close();
  });
});
