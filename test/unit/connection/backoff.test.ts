// The retry schedule: exponential growth, the 30 s cap, jitter bounds, the fast regime of the
// connect window, reset after a success. Pure: the random source is injected.
import { describe, expect, it } from 'vitest';
import {
  Backoff,
  backoffDelay,
  type BackoffPolicy,
  FAST_POLICY,
  RECONNECT_POLICY,
  WAITING_POLICY,
} from '../../../src/connection/backoff.js';

const noJitter = () => 0; // random 0: the full base delay
const fullJitter = () => 1; // random 1: the shortest delay jitter allows

describe('backoffDelay', () => {
  it('doubles from 500 ms for reconnects', () => {
    const delays = [0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, RECONNECT_POLICY, noJitter));
    expect(delays).toEqual([500, 1000, 2000, 4000, 8000, 16000]);
  });

  it('is capped at 30 s, however many attempts failed', () => {
    expect(RECONNECT_POLICY.maxMs).toBe(30_000);
    for (const n of [6, 7, 10, 50, 1000]) {
      expect(backoffDelay(n, RECONNECT_POLICY, noJitter)).toBe(30_000);
      expect(backoffDelay(n, RECONNECT_POLICY, Math.random)).toBeLessThanOrEqual(30_000);
    }
  });

  it('does not overflow into Infinity or NaN for huge attempt counts', () => {
    expect(backoffDelay(1e6, RECONNECT_POLICY, noJitter)).toBe(30_000);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, RECONNECT_POLICY, () => 0.5)).toBe(22_500);
  });

  it('jitter keeps each delay within [base × (1 − jitter), base]', () => {
    const policy: BackoffPolicy = { initialMs: 1000, maxMs: 60_000, multiplier: 2, jitter: 0.5 };
    for (let n = 0; n < 8; n++) {
      const base = Math.min(60_000, 1000 * 2 ** n);
      expect(backoffDelay(n, policy, noJitter)).toBe(base);
      expect(backoffDelay(n, policy, fullJitter)).toBe(base / 2);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(n, policy, Math.random);
        expect(d).toBeGreaterThanOrEqual(base / 2);
        expect(d).toBeLessThanOrEqual(base);
      }
    }
  });

  it('jitter actually spreads the delays (a fleet does not reconnect in lockstep)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay(5, RECONNECT_POLICY)));
    expect(delays.size).toBeGreaterThan(10);
  });

  it('with jitter, the next delay is never shorter than the previous one (growth survives jitter)', () => {
    for (let trial = 0; trial < 100; trial++) {
      let previous = 0;
      for (let n = 0; n < 12; n++) {
        const d = backoffDelay(n, RECONNECT_POLICY, Math.random);
        expect(d).toBeGreaterThanOrEqual(Math.min(previous, 15_000));
        previous = d;
      }
    }
  });

  it('clamps out-of-range inputs: a negative attempt, random outside [0, 1], jitter above 1', () => {
    expect(backoffDelay(-3, RECONNECT_POLICY, noJitter)).toBe(500);
    expect(backoffDelay(0, RECONNECT_POLICY, () => 7)).toBe(250);
    expect(backoffDelay(0, RECONNECT_POLICY, () => -1)).toBe(500);
    expect(backoffDelay(0, { ...RECONNECT_POLICY, jitter: 3 }, fullJitter)).toBe(0);
  });

  it('the fast regime retries every 100-200 ms, without growth', () => {
    for (const n of [0, 1, 5, 20]) {
      expect(backoffDelay(n, FAST_POLICY, noJitter)).toBe(200);
      expect(backoffDelay(n, FAST_POLICY, fullJitter)).toBe(100);
    }
  });

  it('while the app waits for the server (required), the cap is 2 s', () => {
    expect(backoffDelay(10, WAITING_POLICY, noJitter)).toBe(2000);
    expect(backoffDelay(0, WAITING_POLICY, noJitter)).toBe(500);
  });
});

describe('Backoff', () => {
  it('counts attempts and grows, then starts over after reset()', () => {
    const b = new Backoff(noJitter);
    expect([b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000]);
    expect(b.attempts).toBe(3);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(500);
  });

  it('fast retries do not count: the exponential regime starts from its first step after the window', () => {
    const b = new Backoff(noJitter);
    for (let i = 0; i < 20; i++) expect(b.next({ fast: true })).toBe(200);
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(500);
  });

  it('takes the policy of the moment', () => {
    const b = new Backoff(noJitter);
    for (let i = 0; i < 6; i++) b.next({ policy: WAITING_POLICY });
    expect(b.next({ policy: WAITING_POLICY })).toBe(2000);
    expect(b.next({ policy: RECONNECT_POLICY })).toBe(30_000);
  });

  it('reaches the cap and stays there: never a busy loop, never longer than 30 s', () => {
    const b = new Backoff(Math.random);
    const delays = Array.from({ length: 200 }, () => b.next());
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(250);
    expect(Math.max(...delays)).toBeLessThanOrEqual(30_000);
    expect(delays.slice(20).every((d) => d >= 15_000)).toBe(true);
  });
});
