// The server end of a config stream (M4): one config in flight, the newest one waiting (the
// others replaced), keepalives only when idle, and a stall past its time drops the reader.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigSender } from '../../../../src/server/config/sender.js';

afterEach(() => {
  vi.useRealTimers();
});

function fakeCall() {
  const written: string[] = [];
  const pending: Array<() => void> = [];
  return { written, flushOne: () => pending.shift()!(), call: { write: (m: string, flushed: () => void) => (written.push(m), pending.push(flushed), true) } };
}

describe('ConfigSender', () => {
  it('M4: holds one config in flight and only the newest waiting, however many are pushed', () => {
    const { written, flushOne, call } = fakeCall();
    const made: string[] = [];
    const s = new ConfigSender(call, { stallMs: 1000, onStall: () => undefined });
    const push = (m: string) => s.send(() => (made.push(m), m));
    push('c1');
    for (let i = 2; i <= 1000; i++) push(`c${i}`);
    expect(written).toEqual(['c1']);
    expect(made).toEqual(['c1']); // the replaced ones were never even made
    flushOne();
    expect(written).toEqual(['c1', 'c1000']);
    flushOne();
    push('c1001');
    expect(written).toEqual(['c1', 'c1000', 'c1001']);
    s.stop();
  });

  it('M4: a config left waiting for stallMs calls onStall; one flushed in time does not', () => {
    vi.useFakeTimers();
    const { flushOne, call } = fakeCall();
    const onStall = vi.fn();
    const s = new ConfigSender(call, { stallMs: 1000, onStall });
    s.send(() => 'a');
    s.send(() => 'b');
    vi.advanceTimersByTime(900);
    flushOne(); // a taken: b goes out, nothing waits
    vi.advanceTimersByTime(5000);
    expect(onStall).not.toHaveBeenCalled();
    s.send(() => 'c');
    vi.advanceTimersByTime(1000);
    expect(onStall).toHaveBeenCalledTimes(1);
    s.stop();
  });

  it('sends a keepalive only when nothing is in flight, and nothing after stop', () => {
    const { written, flushOne, call } = fakeCall();
    const s = new ConfigSender(call, { stallMs: 1000, onStall: () => undefined });
    expect(s.sendIfIdle('k')).toBe(true);
    expect(s.sendIfIdle('k')).toBe(false);
    flushOne();
    expect(s.idle).toBe(true);
    s.stop();
    s.send(() => 'late');
    expect(s.sendIfIdle('k')).toBe(false);
    expect(written).toEqual(['k']);
  });
});
