// The server's log pieces in isolation: the bounded rings (of items, of batches' lines), the hub (ownership, newline stripping,
// time order, retention, followers) and a follower's sender (backlog, drain, drop and mark).
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import type { Principal } from '../../../../src/server/auth/authenticator.js';
import { type LogEntry, LogHub } from '../../../../src/server/logs/hub.js';
import { LINE_OVERHEAD_BYTES, LineRing } from '../../../../src/server/logs/line-ring.js';
import { RingBuffer } from '../../../../src/server/logs/ring.js';
import { type LogCall, LogSender } from '../../../../src/server/logs/sender.js';
import { Status } from '../../../../src/server/rpc/status.js';
import { decodedBatch, encodeBatch } from '../../../helpers/log-batch.js';
import { LogBatchLines } from '../../../../src/server/logs/batch.js';
import { decodeLogBatch } from '../../../../src/server/logs/wire-decode.js';
import { waitFor } from '../../../helpers/run.js';

describe('RingBuffer', () => {
  it('keeps the newest items up to its capacity and says how many it evicted', () => {
    const r = new RingBuffer<number>(3);
    expect([1, 2, 3].map((n) => r.push(n))).toEqual([0, 0, 0]);
    expect(r.push(4)).toBe(1);
    expect(r.toArray()).toEqual([2, 3, 4]);
    expect(r.shift()).toBe(2);
    r.push(5);
    r.push(6);
    expect(r.toArray()).toEqual([4, 5, 6]);
    expect(r.length).toBe(3);
  });

  it('bounds the total weight too, keeping at least the newest item', () => {
    const r = new RingBuffer<string>(100, { maxWeight: 10, weigh: (s) => s.length });
    r.push('aaaa');
    r.push('bbbb');
    expect(r.push('cccc')).toBe(1);
    expect(r.toArray()).toEqual(['bbbb', 'cccc']);
    expect(r.push('x'.repeat(50))).toBe(2);
    expect(r.toArray()).toEqual(['x'.repeat(50)]);
  });

  it('holds 10 000 of 12 000 pushed', () => {
    const r = new RingBuffer<number>(10_000);
    let evicted = 0;
    for (let i = 0; i < 12_000; i++) evicted += r.push(i);
    expect(evicted).toBe(2_000);
    const all = r.toArray();
    expect([all.length, all[0], all.at(-1)]).toEqual([10_000, 2_000, 11_999]);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RingBuffer(0)).toThrow(/positive/);
  });
});

describe('LineRing', () => {
  const texts = (r: LineRing) => {
    const out: Array<[string, number]> = [];
    r.forEach((b, i, seq) => out.push([b.line(i), seq]));
    return out;
  };
  const batchOf = (...lines: string[]) => decodedBatch(lines.map((line) => ({ line })));

  it('keeps the newest lines across batches, evicting whole batches and parts of one', () => {
    const r = new LineRing(4);
    expect(r.push(batchOf('a', 'b', 'c'), 1, 0)).toBe(0);
    expect(r.push(batchOf('d', 'e'), 4, 0)).toBe(1);
    expect(texts(r)).toEqual([['b', 2], ['c', 3], ['d', 4], ['e', 5]]);
    expect(r.push(batchOf('f', 'g', 'h'), 6, 0)).toBe(3);
    expect(texts(r)).toEqual([['e', 5], ['f', 6], ['g', 7], ['h', 8]]);
    expect(r.push(batchOf('1', '2', '3', '4', '5', '6'), 9, 0)).toBe(6);
    expect(texts(r).map(([t]) => t)).toEqual(['3', '4', '5', '6']);
    expect(r.length).toBe(4);
  });

  it('bounds the bytes too (each line weighs its text and an overhead), keeping the newest line', () => {
    const r = new LineRing(100, 3 * (LINE_OVERHEAD_BYTES + 10));
    r.push(batchOf('x'.repeat(10), 'y'.repeat(10)), 1, 0);
    r.push(batchOf('z'.repeat(10), 'w'.repeat(10)), 3, 0);
    expect(texts(r).map(([t]) => t[0])).toEqual(['y', 'z', 'w']);
    expect(r.push(batchOf('big'.repeat(1000)), 5, 0)).toBe(3);
    expect(texts(r).map(([, seq]) => seq)).toEqual([5]);
    r.push(batchOf('s'), 6, 0);
    expect(texts(r).map(([, seq]) => seq)).toEqual([6]);
  });

  it('takes 1 000 batches of 100 lines, holding exactly the last 10 000', () => {
    const r = new LineRing(10_000);
    const b = batchOf(...Array.from({ length: 100 }, (_, i) => `l${i}`));
    let evicted = 0;
    for (let n = 0; n < 1000; n++) evicted += r.push(b, n * 100 + 1, 0);
    const all = texts(r);
    expect([evicted, all.length, all[0][1], all.at(-1)![1]]).toEqual([90_000, 10_000, 90_001, 100_000]);
  });

  it('H5: a batch padded with an unknown field keeps only its lines: memory held is what is counted', () => {
    const r = new LineRing(10_000, 16 * 1024 * 1024);
    const kept: LogBatchLines[] = [];
    for (let n = 0; n < 50; n++) {
      const b = paddedBatch('x', 1024 * 1024);
      r.push(b, n + 1, 0);
      kept.push(b);
    }
    // 50 MiB of messages came; 50 one-byte lines are kept, in batches that hold little more.
    const held = kept.reduce((sum, b) => sum + b.retainedBytes(), 0);
    expect(held).toBeLessThan(50 * 1024);
    expect(r.weight).toBeGreaterThanOrEqual(held);
    expect(r.length).toBe(50);
    expect(texts(r).map(([t]) => t)).toEqual(Array(50).fill('x'));
  });

  it('H5: the lines copied out of a padded batch read back exactly, timestamps and sources too', () => {
    const lines = [{ line: 'first\n', timestamp: { seconds: '1700000000', nanos: 5 } }, { line: 'Grüße', source: 'ENTRYPOINT' as const }, { line: '' }];
    const b = paddedBatch(lines, 64 * 1024);
    const r = new LineRing(10);
    r.push(b, 1, 0);
    expect(b.retainedBytes()).toBeLessThan(1024);
    expect([0, 1, 2].map((i) => [b.line(i), b.hasTimestamp(i), b.seconds(i), b.nanos(i), b.source(i)])).toEqual([
      ['first', true, 1700000000, 5, 'app'],
      ['Grüße', false, 0, 0, 'entrypoint'],
      ['', false, 0, 0, 'app'],
    ]);
  });

  it('H5: a batch holding more than its lines weighs what it holds, so the byte bound counts it', () => {
    const r = new LineRing(10_000, 100_000);
    // Framing but no waste: kept as is (a copy would cost more than it saves).
    const plain = decodedBatch(Array.from({ length: 1000 }, () => ({ line: 'y\n', timestamp: { seconds: '1700000000', nanos: 999_999_999 }, source: 'ENTRYPOINT' as const })));
    const held = plain.retainedBytes();
    r.push(plain, 1, 0);
    expect(plain.retainedBytes()).toBe(held); // not copied: the entrypoint's framing is no waste
    expect(r.weight).toBeGreaterThanOrEqual(held);
  });

  it('trimTo evicts the oldest down to a weight, keeping the newest line', () => {
    const r = new LineRing(100);
    r.push(batchOf('a'.repeat(100), 'b'.repeat(100)), 1, 0);
    r.push(batchOf('c'.repeat(100)), 3, 0);
    expect(r.trimTo(2 * (100 + LINE_OVERHEAD_BYTES))).toBe(1);
    expect(texts(r).map(([, seq]) => seq)).toEqual([2, 3]);
    expect(r.trimTo(0)).toBe(1);
    expect(texts(r).map(([, seq]) => seq)).toEqual([3]);
  });

  it('ignores an empty batch, refuses a capacity below 1', () => {
    const r = new LineRing(2);
    expect(r.push(batchOf(), 1, 0)).toBe(0);
    expect(r.length).toBe(0);
    expect(() => new LineRing(0)).toThrow(/positive/);
  });
});

/** A batch with one unknown field of `padding` bytes, as t_padmem.js sends (H5). */
function paddedBatch(lines: string | Parameters<typeof decodedBatch>[0], padding: number): LogBatchLines {
  const entries = typeof lines === 'string' ? [{ line: lines }] : lines;
  const pad = Buffer.concat([Buffer.from([0x7a]), varint(padding), Buffer.alloc(padding, 0x61)]); // field 15, LEN
  const decoded = decodeLogBatch(Buffer.concat([encodeBatch({ instance_id: 'i', lines: entries }), pad]));
  if (!(decoded instanceof LogBatchLines)) throw new Error(decoded.reason);
  return decoded;
}

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n & 0x7f) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

const entrypoint = (tokenId: string, deploymentId = 'D1'): Principal => ({ kind: 'entrypoint', tokenId, deploymentId });
const ts = (ms: number) => ({ seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1_000_000 });
const line = (text: string, ms: number, source: 'APP' | 'ENTRYPOINT' = 'APP') => ({ line: text, timestamp: ts(ms), source });

function hubWith(...ids: Array<[string, string]>) {
  const hub = new LogHub();
  for (const [id, app] of ids) hub.registered({ id, app, deploymentId: `D-${app}`, tokenId: `T-${id}` });
  return hub;
}

describe('LogHub', () => {
  it('admits only the token that registered the instance (or the operator)', () => {
    const hub = hubWith(['i1', 'web']);
    expect(hub.admit('i1', entrypoint('T-i1', 'D-web')).id).toBe('i1');
    expect(hub.admit('i1', { kind: 'operator', tokenId: 'op' }).id).toBe('i1');
    expect(() => hub.admit('i1', entrypoint('T-other', 'D-api'))).toThrow(expect.objectContaining({ code: Status.PERMISSION_DENIED }));
    expect(() => hub.admit('i1', entrypoint('T-other', 'D-api'))).toThrow(/registered by deployment D-web/);
    expect(() => hub.admit('i2', entrypoint('T-i1'))).toThrow(expect.objectContaining({ code: Status.FAILED_PRECONDITION }));
  });

  it('strips one trailing newline, keeps source and timestamp, counts lines', () => {
    const hub = hubWith(['i1', 'web']);
    hub.append(hub.admit('i1', entrypoint('T-i1')), decodedBatch([line('a\n', 1000), line('b\n\n', 1001, 'ENTRYPOINT'), line('c', 1002), line('d\r\n', 1003)]));
    expect(hub.recent({}).map((e) => [e.line, e.source, e.seconds, e.nanos])).toEqual([
      ['a', 'app', 1, 0],
      ['b\n', 'entrypoint', 1, 1_000_000],
      ['c', 'app', 1, 2_000_000],
      ['d\r', 'app', 1, 3_000_000],
    ]);
    expect(hub.received('i1')).toBe(4);
    expect(hub.received('nope')).toBe(0);
  });

  it('merges instances in time order, filters by app, instance and source', () => {
    const hub = hubWith(['i1', 'web'], ['i2', 'web'], ['i3', 'api']);
    const p = (id: string) => hub.admit(id, entrypoint(`T-${id}`));
    hub.append(p('i1'), decodedBatch([line('1a', 100), line('1b', 300, 'ENTRYPOINT')]));
    hub.append(p('i2'), decodedBatch([line('2a', 200), line('2b', 300)]));
    hub.append(p('i3'), decodedBatch([line('3a', 50)]));
    expect(hub.recent({}).map((e) => e.line)).toEqual(['3a', '1a', '2a', '1b', '2b']);
    expect(hub.recent({ app: 'web' }).map((e) => e.line)).toEqual(['1a', '2a', '1b', '2b']);
    expect(hub.recent({ instanceId: 'i2' }).map((e) => e.line)).toEqual(['2a', '2b']);
    expect(hub.recent({ source: 'entrypoint' }).map((e) => e.line)).toEqual(['1b']);
  });

  it('keeps the last 10 000 lines per instance', () => {
    const hub = hubWith(['i1', 'web']);
    const inst = hub.admit('i1', entrypoint('T-i1'));
    hub.append(inst, decodedBatch(Array.from({ length: 12_000 }, (_, i) => line(`l${i}`, i))));
    const kept = hub.recent({});
    expect([kept.length, kept[0].line, kept.at(-1)!.line, hub.received('i1')]).toEqual([10_000, 'l2000', 'l11999', 12_000]);
  });

  it('keeps a gone instance for a while, and forgets the oldest gone beyond the count', () => {
    let now = 0;
    const hub = new LogHub({ keepGoneInstances: 2, keepGoneMs: 1000, now: () => now });
    for (const id of ['a', 'b', 'c']) hub.registered({ id, app: 'web', deploymentId: 'D', tokenId: 'T' });
    hub.gone('a');
    now = 10;
    hub.gone('b');
    expect(hub.knows('a')).toBe(true); // still accepts late lines from its own token
    hub.admit('a', entrypoint('T', 'D'));
    now = 20;
    hub.gone('c');
    expect(['a', 'b', 'c'].map((id) => hub.knows(id))).toEqual([false, true, true]);
    now = 2000;
    hub.recent({});
    expect(hub.knows('b') || hub.knows('c')).toBe(false);
  });

  it("M4: one app's gone instances never push out another app's: retention is per app", () => {
    const hub = new LogHub({ keepGoneInstances: 3 });
    hub.registered({ id: 'victim', app: 'other', deploymentId: 'D-other', tokenId: 'T-other' });
    hub.append(hub.admit('victim', entrypoint('T-other', 'D-other')), decodedBatch([line('why I crashed', 1)]));
    hub.gone('victim');
    for (let i = 0; i < 100; i++) {
      hub.registered({ id: `churn${i}`, app: 'shop', deploymentId: 'D-shop', tokenId: 'T-shop' });
      hub.gone(`churn${i}`);
    }
    expect(hub.knows('victim')).toBe(true);
    expect(hub.recent({ instanceId: 'victim' }).map((e) => e.line)).toEqual(['why I crashed']);
    expect(Array.from({ length: 100 }, (_, i) => hub.knows(`churn${i}`)).filter(Boolean)).toHaveLength(3);
  });

  it('L2: an id whose logs are kept for one deployment cannot be registered by another while they are', () => {
    const hub = new LogHub();
    hub.registered({ id: 'x', app: 'other', deploymentId: 'D-other', tokenId: 'T-other' });
    hub.append(hub.admit('x', entrypoint('T-other', 'D-other')), decodedBatch([line('victim line', 1)]));
    hub.gone('x');
    expect(() => hub.registered({ id: 'x', app: 'shop', deploymentId: 'D-shop', tokenId: 'T-shop' })).toThrow(
      expect.objectContaining({ code: Status.ALREADY_EXISTS }),
    );
    expect(() => hub.checkFree('x', 'D-shop')).toThrow(/belongs to deployment D-other/);
    expect(() => hub.admit('x', entrypoint('T-shop', 'D-shop'))).toThrow(expect.objectContaining({ code: Status.PERMISSION_DENIED }));
    expect(hub.recent({ instanceId: 'x' }).map((e) => e.line)).toEqual(['victim line']);
    hub.checkFree('x', 'D-other'); // its own deployment may come back
  });

  it('H5: all rings together stay within maxTotalBytes: gone instances go first, then the heaviest ring is trimmed', () => {
    let now = 0;
    const lineBytes = 1000 + LINE_OVERHEAD_BYTES;
    const hub = new LogHub({ maxTotalBytes: 30 * lineBytes, now: () => now });
    const big = (n: number) => decodedBatch(Array.from({ length: n }, () => ({ line: 'z'.repeat(1000) })));
    for (const id of ['gone', 'a', 'b']) hub.registered({ id, app: 'web', deploymentId: 'D', tokenId: 'T' });
    hub.append(hub.admit('gone', entrypoint('T', 'D')), big(5));
    hub.gone('gone');
    hub.append(hub.admit('a', entrypoint('T', 'D')), big(20));
    hub.append(hub.admit('b', entrypoint('T', 'D')), big(5));
    expect(hub.knows('gone')).toBe(true); // 30 lines: at the bound, not over
    hub.append(hub.admit('b', entrypoint('T', 'D')), big(10));
    // Over: the gone instance went first, then the heaviest (a, 20 lines) gave up its oldest,
    // down to 15/16 of the bound; b keeps all of its 15.
    expect(hub.knows('gone')).toBe(false);
    expect(hub.retainedBytes).toBeLessThanOrEqual(30 * lineBytes - (30 * lineBytes) / 16);
    expect(hub.recent({ instanceId: 'b' })).toHaveLength(15);
    expect(hub.recent({ instanceId: 'a' }).length).toBe(13);
  });

  it('carries buffer and count over a re-registration, with the new token as owner', () => {
    const hub = new LogHub();
    hub.registered({ id: 'i', app: 'web', deploymentId: 'D', tokenId: 'T1' });
    hub.append(hub.admit('i', entrypoint('T1', 'D')), decodedBatch([line('x', 1)]));
    hub.gone('i');
    hub.registered({ id: 'i', app: 'web', deploymentId: 'D', tokenId: 'T2' });
    expect(hub.received('i')).toBe(1);
    expect(() => hub.admit('i', entrypoint('T1', 'D'))).toThrow(/another token/);
  });

  it('hands followers only what matches, and stops after unsubscribe', () => {
    const hub = hubWith(['i1', 'web'], ['i2', 'api']);
    const got: string[] = [];
    const stop = hub.follow({ app: 'web', source: 'app' }, { offer: (es) => got.push(...es.map((e) => e.line)) });
    hub.append(hub.admit('i1', entrypoint('T-i1')), decodedBatch([line('a', 1), line('e', 2, 'ENTRYPOINT')]));
    hub.append(hub.admit('i2', entrypoint('T-i2')), decodedBatch([line('other', 3)]));
    stop();
    hub.append(hub.admit('i1', entrypoint('T-i1')), decodedBatch([line('late', 4)]));
    expect(got).toEqual(['a']);
  });

  it('ends every tracked call at shutdown', () => {
    const hub = new LogHub();
    const reasons: string[] = [];
    hub.track((r) => reasons.push(r));
    const untrack = hub.track((r) => reasons.push(`never ${r}`));
    untrack();
    hub.shutdown('bye');
    expect(reasons).toEqual(['bye']);
  });
});

/** A call whose buffer takes `room` messages, then needs a drain. */
class FakeCall extends EventEmitter implements LogCall {
  written: Array<{ lines: Array<{ line: string }>; dropped?: string }> = [];
  ended = false;
  constructor(public room = Infinity) {
    super();
  }
  write(message: never): boolean {
    this.written.push(message);
    return this.written.length < this.room;
  }
  end(): void {
    this.ended = true;
  }
  lines(): string[] {
    return this.written.flatMap((m) => m.lines.map((l) => l.line));
  }
}

const entry = (text: string, seq = 0): LogEntry => ({ instanceId: 'i', app: 'web', deploymentId: 'd', seconds: 1, nanos: 0, source: 'app', line: text, seq });

describe('LogSender', () => {
  it('sends the backlog in bounded messages, then ends when not following', () => {
    const call = new FakeCall();
    new LogSender(call, Array.from({ length: 2500 }, (_, i) => entry(`l${i}`)), { follow: false }).start();
    expect(call.written.map((m) => m.lines.length)).toEqual([1000, 1000, 500]);
    expect(call.ended).toBe(true);
  });

  it('ends at once with no lines, and never when following', () => {
    const empty = new FakeCall();
    new LogSender(empty, [], { follow: false }).start();
    expect([empty.written.length, empty.ended]).toEqual([0, true]);
    const following = new FakeCall();
    new LogSender(following, [], { follow: true }).start();
    expect(following.ended).toBe(false);
  });

  it('sends offered lines on a later tick, never within offer', async () => {
    const call = new FakeCall();
    const sender = new LogSender(call, [], { follow: true });
    sender.start();
    sender.offer([entry('a')]);
    sender.offer([entry('b')]);
    expect(call.written).toHaveLength(0);
    await waitFor(() => call.written.length > 0);
    expect(call.written).toEqual([{ lines: [expect.objectContaining({ line: 'a' }), expect.objectContaining({ line: 'b' })] }]);
  });

  it('waits for drain when the call is full; a slow reader loses the oldest queued lines, marked', async () => {
    const call = new FakeCall(1);
    const sender = new LogSender(call, [], { follow: true, maxQueuedLines: 3 });
    sender.start();
    sender.offer([entry('first')]);
    await waitFor(() => call.written.length === 1);
    // The call is full now: offers only queue, beyond 3 the oldest go.
    sender.offer(['a', 'b', 'c', 'd', 'e'].map((t) => entry(t)));
    await new Promise((r) => setImmediate(r));
    expect(call.written).toHaveLength(1);
    expect(sender.pendingDropped).toBe(2);
    call.room = Infinity;
    call.emit('drain');
    expect(call.written[1]).toEqual({ lines: ['c', 'd', 'e'].map((l) => expect.objectContaining({ line: l })), dropped: '2' });
    expect(sender.pendingDropped).toBe(0);
  });

  it('sends nothing after close', async () => {
    const call = new FakeCall();
    const sender = new LogSender(call, [], { follow: true });
    sender.close();
    sender.offer([entry('x')]);
    await new Promise((r) => setImmediate(r));
    expect(call.written).toHaveLength(0);
  });

  it('holds offered lines until started with a backlog (other replicas\' kept lines), which goes first', async () => {
    const call = new FakeCall();
    const sender = new LogSender(call, [], { follow: true });
    sender.hold();
    sender.offer([entry('new')]);
    await new Promise((r) => setImmediate(r));
    expect(call.written).toHaveLength(0);
    sender.start([entry('kept-1'), entry('kept-2')]);
    await waitFor(() => call.lines().length === 3);
    expect(call.lines()).toEqual(['kept-1', 'kept-2', 'new']);
  });

  it('sends the end-of-backlog marker once, after the backlog and before new lines', async () => {
    const call = new FakeCall();
    const sender = new LogSender(call, [entry('kept')], { follow: true }, undefined, { lines: [], backlog_end: true });
    sender.start();
    sender.offer([entry('new')]);
    await waitFor(() => call.written.length === 3);
    expect(call.written).toEqual([
      { lines: [expect.objectContaining({ line: 'kept' })] },
      { lines: [], backlog_end: true },
      { lines: [expect.objectContaining({ line: 'new' })] },
    ]);
  });

  it('counts lines lost on the way (another replica\'s) with its own, told with the next lines', async () => {
    const call = new FakeCall();
    const sender = new LogSender(call, [], { follow: true });
    sender.start();
    sender.lost(7);
    sender.offer([entry('after')]);
    await waitFor(() => call.written.length === 1);
    expect(call.written[0]).toEqual({ lines: [expect.objectContaining({ line: 'after' })], dropped: '7' });
  });
});
