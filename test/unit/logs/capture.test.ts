// Log capture's timed flush of a partial line (src/logs/capture.ts): a line with no newline for
// 150–200 ms goes out as it is (a prompt), but a line whose rest is merely unread — the relay
// holding the stream back for our slow stdout, or the loop stalled with the rest in the pipe —
// is never cut in two.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { LogCapture } from '../../../src/logs/capture.js';
import type { LogQueue } from '../../../src/logs/queue.js';

/** The lines the capture hands to its queue, as text. */
function newCapture(): { capture: LogCapture; lines: string[] } {
  const lines: string[] = [];
  const queue = {
    push: (buf: Buffer, start: number, end: number) => lines.push(buf.toString('utf8', start, end)),
    pushText: (text: string) => lines.push(text),
    seal: () => undefined,
  } as unknown as LogQueue;
  return { capture: new LogCapture(queue), lines };
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setImmediate', 'clearImmediate', 'Date'] });
});
afterEach(() => vi.useRealTimers());

describe('a partial line', () => {
  it('with no newline for 200 ms goes out as it is (a prompt)', () => {
    const { capture, lines } = newCapture();
    const { stdout } = capture.newTaps();
    stdout.tap(Buffer.from('password: '));
    vi.advanceTimersByTime(100);
    expect(lines).toEqual([]);
    vi.advanceTimersByTime(150);
    expect(lines).toEqual(['password: ']);
  });

  it('held back by the relay (our stdout full) waits, however long: the rest comes when it flows', () => {
    const { capture, lines } = newCapture();
    const { stdout } = capture.newTaps();
    stdout.tap(Buffer.from('burst 1\nburst 12'));
    stdout.held!(true);
    vi.advanceTimersByTime(5_000);
    expect(lines).toEqual(['burst 1\n']);
    stdout.held!(false);
    // The wait starts over when the stream flows: the rest arrives within it.
    vi.advanceTimersByTime(100);
    stdout.tap(Buffer.from('34\n'));
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['burst 1\n', 'burst 1234\n']);
  });

  it('held back behind a relay thread (asked, not told): waits while it writes, then the wait starts over', () => {
    const { capture, lines } = newCapture();
    const { stdout } = capture.newTaps();
    let writing = true;
    stdout.heldBy!(() => writing);
    stdout.tap(Buffer.from('burst 1\nburst 12'));
    vi.advanceTimersByTime(5_000);
    expect(lines).toEqual(['burst 1\n']);
    writing = false;
    vi.advanceTimersByTime(100);
    stdout.tap(Buffer.from('34\n'));
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['burst 1\n', 'burst 1234\n']);
  });

  it('due when the loop stalled: the rest read before the flush completes the line', () => {
    const { capture, lines } = newCapture();
    const { stdout } = capture.newTaps();
    stdout.tap(Buffer.from('burst 45'));
    // The loop was stalled past the wait: timers run first, the flush is put after the poll…
    vi.setSystemTime(Date.now() + 400);
    vi.advanceTimersToNextTimer();
    expect(lines).toEqual([]);
    // …in which the rest, waiting in the pipe, is read.
    stdout.tap(Buffer.from('23\nburst 4524\n'));
    vi.runAllTimers();
    expect(lines).toEqual(['burst 4523\n', 'burst 4524\n']);
  });
});

describe('a gap in the relay’s copy (capture fell behind; the output lost nothing)', () => {
  function withDrops() {
    const lines: string[] = [];
    const missed: number[] = [];
    const queue = {
      push: (buf: Buffer, start: number, end: number) => lines.push(buf.toString('utf8', start, end)),
      pushText: (text: string) => lines.push(text),
      seal: () => undefined,
      dropMissed: (n: number) => missed.push(n),
    } as unknown as LogQueue;
    return { capture: new LogCapture(queue), lines, missed };
  }

  it('ending on a newline: its lines are counted, the partial line before it is not shipped cut', () => {
    const { capture, lines, missed } = withDrops();
    const { stdout } = capture.newTaps();
    stdout.tap(Buffer.from('one\ntw'));
    stdout.gap!(9, 2, false); // "o\nthree\n" missed: the end of "two" and "three"
    stdout.tap(Buffer.from('four\n'));
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['one\n', 'four\n']);
    expect(missed).toEqual([2]);
  });

  it('ending inside a line: that line is counted too, and its rest is not shipped as a line of its own', () => {
    const { capture, lines, missed } = withDrops();
    const { stdout } = capture.newTaps();
    stdout.tap(Buffer.from('one\n'));
    stdout.gap!(12, 1, true); // "two\nthree is" missed
    stdout.tap(Buffer.from(' long\nfour\n'));
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['one\n', 'four\n']);
    expect(missed).toEqual([2]);
  });

  it('inside one long line: the line is counted once, whatever the batches in between', () => {
    const { capture, lines, missed } = withDrops();
    const { stdout } = capture.newTaps();
    stdout.tap(Buffer.from('start of a long'));
    stdout.gap!(1000, 0, true);
    stdout.tap(Buffer.from(' middle with no newline'));
    stdout.tap(Buffer.from(' end\nnext\n'));
    vi.advanceTimersByTime(1_000);
    expect(lines).toEqual(['next\n']);
    expect(missed).toEqual([1]);
  });
});
