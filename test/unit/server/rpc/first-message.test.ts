// The first message of a stream (src/server/rpc/first-message.ts), on a stand-in for a server call; and the
// inline-keepalive request read from a call's metadata.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KEEPALIVE } from '../../../../src/protocol/keepalive.js';
import { METADATA, wantsInlineKeepalives } from '../../../../src/protocol/metadata.js';
import { firstMessage } from '../../../../src/server/rpc/first-message.js';
import { Status } from '../../../../src/server/rpc/status.js';

class FakeCall extends EventEmitter {
  paused = false;
  pause(): this {
    this.paused = true;
    return this;
  }
}

function watch(timeoutMs = 1_000) {
  const call = new FakeCall();
  const got: unknown[] = [];
  const refused: { code: number; message: string }[] = [];
  firstMessage<unknown>(call, { rpc: 'Exec', message: 'start', timeoutMs }, (m) => got.push(m), (e) => refused.push({ code: e.code, message: e.message }));
  return { call, got, refused };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('firstMessage', () => {
  it('skips keepalives, hands over the first real message with the call paused, and then lets go', () => {
    vi.useFakeTimers();
    const { call, got, refused } = watch();
    call.emit('data', KEEPALIVE);
    expect(got).toEqual([]);
    expect(call.paused).toBe(false);
    call.emit('data', { event: 'start' });
    expect(got).toEqual([{ event: 'start' }]);
    expect(call.paused).toBe(true);
    expect(call.listenerCount('data') + call.listenerCount('end') + call.listenerCount('cancelled')).toBe(0);
    call.emit('end');
    vi.advanceTimersByTime(5_000);
    expect(refused).toEqual([]);
  });

  it('refuses a stream that ends first with INVALID_ARGUMENT, and one silent for too long with DEADLINE_EXCEEDED', () => {
    vi.useFakeTimers();
    const early = watch();
    early.call.emit('data', KEEPALIVE);
    early.call.emit('end');
    expect(early.refused).toEqual([{ code: Status.INVALID_ARGUMENT, message: 'the Exec call ended before its start message' }]);

    const silent = watch(300);
    silent.call.emit('data', KEEPALIVE); // a keepalive does not count
    vi.advanceTimersByTime(299);
    expect(silent.refused).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(silent.refused).toEqual([{ code: Status.DEADLINE_EXCEEDED, message: 'the Exec call sent no start message within 300 ms' }]);
    silent.call.emit('data', { event: 'start' });
    expect(silent.got).toEqual([]);
    vi.advanceTimersByTime(5_000);
    expect(early.refused).toHaveLength(1);
  });

  it('does nothing more once the call is cancelled', () => {
    vi.useFakeTimers();
    const { call, got, refused } = watch(300);
    call.emit('cancelled');
    vi.advanceTimersByTime(1_000);
    call.emit('end');
    expect([got, refused]).toEqual([[], []]);
  });
});

describe('wantsInlineKeepalives', () => {
  const metadata = (value?: string) => ({ get: (key: string) => (key === METADATA.inlineKeepalives && value !== undefined ? [value] : []) });
  it('is "true" in wp-inline-keepalives, in any case', () => {
    expect(wantsInlineKeepalives(metadata('true'))).toBe(true);
    expect(wantsInlineKeepalives(metadata('TRUE'))).toBe(true);
    expect(wantsInlineKeepalives(metadata('false'))).toBe(false);
    expect(wantsInlineKeepalives(metadata('1'))).toBe(false);
    expect(wantsInlineKeepalives(metadata())).toBe(false);
  });
});
