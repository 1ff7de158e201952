// The fault suite's line accounting (scripts/fault/lines.mjs) and its derived bounds
// (scripts/fault/cycles.mjs): where a written line falls against the cuts, what counts as lost.
import { describe, expect, it } from 'vitest';

interface Cut {
  kind: string;
  at: number;
  noticedAt: number;
  reconnectedAt: number;
}
interface Counts {
  written: number;
  arrived: number;
  lost: number;
  byPlace: Record<'connected' | 'cut' | 'backlog', { written: number; lost: number }>;
  cutLostByKind: Record<string, number>;
  maxLostBeforeCutMs: number;
  maxWriteGapMs: number;
}
interface ArrivalsT {
  add(text: string, incarnation: number): void;
  duplicates: number;
  foreign: number;
  newestWrite(incarnation: number): number;
}
const lines = (await import('../../../../scripts/fault/lines.mjs' as string)) as {
  parseLedger(text: string): { pid: number; starts: number; entries: Array<{ seq: number; t: number }> };
  Arrivals: new () => ArrivalsT;
  placeLine(t: number, cuts: Cut[], marginMs: number): string;
  account(ledger: { entries: Array<{ seq: number; t: number }> }, arrivals: ArrivalsT, cuts: Cut[], o: { endAt: number; marginMs: number }): Counts;
};
const cycles = (await import('../../../../scripts/fault/cycles.mjs' as string)) as { reconnectBoundMs(downMs: number): number; SLACK_MS: number };

const line = (seq: number, t: number, pid = 7) => `fault-line seq=${seq} t=${t} pid=${pid}`;
const cut: Cut = { kind: 'kill', at: 10_000, noticedAt: 10_050, reconnectedAt: 12_000 };

describe('fault suite line accounting', () => {
  it('places a line before, at, after a cut and in its backlog', () => {
    expect(lines.placeLine(8_999, [cut], 1_000)).toBe('connected');
    expect(lines.placeLine(9_000, [cut], 1_000)).toBe('cut');
    expect(lines.placeLine(10_050, [cut], 1_000)).toBe('cut');
    expect(lines.placeLine(10_051, [cut], 1_000)).toBe('backlog');
    expect(lines.placeLine(12_000, [cut], 1_000)).toBe('backlog');
    expect(lines.placeLine(12_001, [cut], 1_000)).toBe('connected');
  });

  it('counts a line lost while connected, one lost at a cut and one lost from the backlog apart', () => {
    const ledger = lines.parseLedger(`start pid=7 t=0\n1 5000\n2 9500\n3 11000\n4 13000\n5 14000\n6 20000\n`);
    expect(ledger.starts).toBe(1);
    const arrivals = new lines.Arrivals();
    arrivals.add(line(5, 14_000), 2);
    const counts = lines.account(ledger, arrivals, [cut], { endAt: 15_000, marginMs: 1_000 });
    expect(counts.written).toBe(5); // seq 6 is after endAt
    expect(counts.arrived).toBe(1);
    expect(counts.byPlace.connected).toEqual({ written: 3, lost: 2 }); // seq 1 and 4
    expect(counts.byPlace.cut).toEqual({ written: 1, lost: 1 });
    expect(counts.byPlace.backlog).toEqual({ written: 1, lost: 1 });
    expect(counts.cutLostByKind).toEqual({ kill: 1 });
    expect(counts.maxLostBeforeCutMs).toBe(500);
    expect(counts.maxWriteGapMs).toBe(4_500);
  });

  it('leaves out a ledger line the app is still writing', () => {
    const ledger = lines.parseLedger('start pid=7 t=0\n1 1796250601395\n2 17962');
    expect(ledger.entries).toEqual([{ seq: 1, t: 1796250601395 }]);
  });

  it('counts a line delivered by two server incarnations as a duplicate, and foreign lines apart', () => {
    const arrivals = new lines.Arrivals();
    arrivals.add(line(1, 100), 1);
    arrivals.add(line(1, 100), 1); // the same reader again: not a resend
    arrivals.add(line(1, 100), 2);
    arrivals.add('something else', 2);
    expect(arrivals.duplicates).toBe(1);
    expect(arrivals.foreign).toBe(1);
    expect(arrivals.newestWrite(2)).toBe(100);
  });

  it('derives the reconnect bound from the backoff: 3·down + 0.5 s, capped at down + 30 s, plus a session and slack', () => {
    const extra = 5_000 + cycles.SLACK_MS;
    expect(cycles.reconnectBoundMs(1_000)).toBe(3_500 + extra);
    expect(cycles.reconnectBoundMs(60_000)).toBe(90_000 + extra);
  });
});
