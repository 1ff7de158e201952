// A tunnel connection as a socket of Node's HTTP Agent (src/server/tunnel/connection.ts,
// pool.ts), on a scripted Connect call: the inactivity timeout, the no-ops, destroySoon, and an
// idle (pooled) connection that the app closes or sends bytes on being destroyed at once.
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type ConnectCall, TunnelConnection } from '../../../../src/server/tunnel/connection.js';
import { TunnelPool } from '../../../../src/server/tunnel/pool.js';

class FakeCall extends EventEmitter {
  written: unknown[] = [];
  ended = false;
  write(m: unknown): boolean {
    this.written.push(m);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  pause(): void {}
  resume(): void {}
}

function connected(): { call: FakeCall; tunnel: TunnelConnection } {
  const call = new FakeCall();
  const tunnel = new TunnelConnection(call as unknown as ConnectCall, 'c1');
  call.emit('data', { event: 'connected' });
  return { call, tunnel };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TunnelConnection as an HTTP socket', () => {
  beforeEach(() => vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] }));
  afterEach(() => vi.useRealTimers());

  it('emits timeout after the given inactivity, pushed back by bytes either way; 0 turns it off', () => {
    const { call, tunnel } = connected();
    const timeouts = vi.fn();
    tunnel.on('timeout', timeouts);
    tunnel.setTimeout(1000);
    expect(tunnel.timeout).toBe(1000);
    vi.advanceTimersByTime(600);
    call.emit('data', { event: 'data', data: Buffer.from('x') });
    tunnel.resume();
    vi.advanceTimersByTime(600);
    tunnel.write('y');
    vi.advanceTimersByTime(600);
    expect(timeouts).not.toHaveBeenCalled();
    vi.advanceTimersByTime(500);
    expect(timeouts).toHaveBeenCalledTimes(1);
    tunnel.setTimeout(0);
    vi.advanceTimersByTime(5000);
    expect(timeouts).toHaveBeenCalledTimes(1);
  });

  it('answers setKeepAlive, setNoDelay, ref and unref as no-ops that chain', () => {
    const { tunnel } = connected();
    expect(tunnel.setKeepAlive().setNoDelay().ref().unref()).toBe(tunnel);
    expect(tunnel.destroyed).toBe(false);
  });

  it('destroySoon sends eof, then finishes the call with OK', async () => {
    const { call, tunnel } = connected();
    tunnel.destroySoon();
    await vi.waitFor(() => expect(tunnel.destroyed).toBe(true));
    expect(call.written).toContainEqual({ eof: {} });
    expect(call.ended).toBe(true);
  });
});

describe('an idle tunnel connection', () => {
  it('is destroyed at once when the app closes it, and when bytes come unasked', async () => {
    for (const message of [{ event: 'eof' }, { event: 'data', data: Buffer.from('HTTP/1.1 200 OK\r\n') }]) {
      const { call, tunnel } = connected();
      tunnel.setIdle(true);
      call.emit('data', message);
      expect(tunnel.destroyed).toBe(true);
      expect(call.ended).toBe(true); // finished, not cancelled: nothing went wrong
    }
  });

  it('in use, reads the app\'s end as the end of its bytes', async () => {
    const { call, tunnel } = connected();
    const ended = vi.fn();
    tunnel.on('end', ended).resume();
    call.emit('data', { event: 'eof' });
    await tick();
    expect(ended).toHaveBeenCalled();
    expect(tunnel.writable).toBe(true); // half close: our side may still write
  });

  it('is not kept by a closed pool, nor when destroyed; a pool that closes destroys its idle ones', () => {
    const pool = new TunnelPool({ open: () => Promise.reject(new Error('unused')), maxIdle: 4 });
    const live = connected().tunnel;
    expect(pool.keepSocketAlive(live)).toBe(true);
    const dead = connected().tunnel;
    dead.destroy();
    expect(pool.keepSocketAlive(dead)).toBe(false);
    (pool.freeSockets as Record<string, unknown[]>).x = [live]; // as the Agent keeps it after a response
    pool.close();
    expect(live.destroyed).toBe(true);
    expect(pool.keepSocketAlive(connected().tunnel)).toBe(false);
  });
});
