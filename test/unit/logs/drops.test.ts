// The warning in our own log when the log queue drops lines: soon after the first drop, never
// from inside the queue's call, then at most one per interval with the counts; and with the
// queue itself, every line it drops is in a warning's total and in the marker sent to the server.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { DropReporter } from '../../../src/logs/drops.js';
import { LogQueue } from '../../../src/logs/queue.js';
import { Source } from '../../../src/logs/wire.js';
import { recordingLogger } from '../../helpers/fake-session.js';

afterEach(() => vi.useRealTimers());

const warnings = (records: ReturnType<typeof recordingLogger>['records']) =>
  records.filter((r) => r.level === 'warn').map((r) => ({ dropped: r.fields.dropped, total: r.fields.total }));

describe('DropReporter', () => {
  it('warns right after the first drop, then once per interval while drops go on', () => {
    vi.useFakeTimers();
    const { logger, records } = recordingLogger();
    const r = new DropReporter(logger, () => 4096, 1000);
    r.add(10);
    expect(records).toHaveLength(0); // never from inside the queue's call
    vi.advanceTimersByTime(0);
    expect(warnings(records)).toEqual([{ dropped: 10, total: 10 }]);
    expect(records[0].message).toMatch(/^log lines were dropped: the log queue was full/);
    expect(records[0].fields.queue_bytes).toBe(4096);
    r.add(5);
    r.add(7);
    vi.advanceTimersByTime(999);
    expect(records).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(warnings(records)).toEqual([
      { dropped: 10, total: 10 },
      { dropped: 12, total: 22 },
    ]);
    // A quiet interval ends the episode: the next drop is told at once again.
    vi.advanceTimersByTime(5000);
    expect(records).toHaveLength(2);
    r.add(1);
    vi.advanceTimersByTime(0);
    expect(warnings(records).at(-1)).toEqual({ dropped: 1, total: 23 });
    expect(r.dropped).toBe(23);
  });

  it('flush() tells what is pending at once, and nothing when nothing is', () => {
    vi.useFakeTimers();
    const { logger, records } = recordingLogger();
    const r = new DropReporter(logger, () => 1, 1000);
    r.flush();
    expect(records).toHaveLength(0);
    r.add(3);
    r.flush();
    expect(warnings(records)).toEqual([{ dropped: 3, total: 3 }]);
    vi.advanceTimersByTime(10_000);
    expect(records).toHaveLength(1);
  });
});

describe('LogQueue drops', () => {
  it('every line dropped is reported to onDrop and marked once for the server', () => {
    const reported: number[] = [];
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 16 * 1024, batchBytes: 1024, onDrop: (n) => reported.push(n) });
    const line = `${'x'.repeat(99)}\n`;
    for (let i = 0; i < 2000; i++) q.pushText(line, Source.APP, 1_700_000_000_000);
    q.seal();
    const dropped = reported.reduce((a, b) => a + b, 0);
    expect(dropped).toBeGreaterThan(1000);
    expect(dropped).toBe(q.totalDropped);
    let shipped = 0;
    let marked = 0;
    for (let b = q.take(); b; b = q.take()) {
      shipped += b.lines;
      marked += b.marks ?? 0;
    }
    expect(marked).toBe(dropped);
    expect(shipped + marked).toBe(2000);
  });
});
