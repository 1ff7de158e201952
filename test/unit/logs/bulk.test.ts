// Log capture's bulk path (native/lines.c's encodeLines through LogQueue.pushLines): the
// batches it makes are byte for byte the ones the line-by-line path makes, whatever the app
// writes and however its output is cut into chunks; it stops at exactly the lines it must leave
// to JavaScript (invalid UTF-8, as Node's isUtf8 says; over the line limit; no room).
import { isUtf8 } from 'node:buffer';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PosixAddon } from '../../../src/native/posix.js';
import { type Batch, LogQueue } from '../../../src/logs/queue.js';
import { frameInPlace } from '../../../src/protocol/framed-sends.js';
import { LineSplitter, MAX_LINE_BYTES } from '../../../src/logs/splitter.js';
import { Source, timestampField, writeEntry } from '../../../src/logs/wire.js';
import { ROOT } from '../../helpers/run.js';

/** The addon as npm run build:native made it. */
const native = createRequire(import.meta.url)(path.join(ROOT, 'native/build/Release/posix.node')) as PosixAddon;

/** A small deterministic generator (xorshift), so that a failure can be run again. */
function random(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

/** What the app writes: plain lines, empty ones, CRLF, UTF-8, invalid bytes, lines over the limit, a partial end. */
function appOutput(seed: number, maxLine: number): Buffer {
  const rnd = random(seed);
  const parts: Buffer[] = [];
  for (let i = 0; i < 3000; i++) {
    const kind = rnd(100);
    if (kind < 70) parts.push(Buffer.from(`line ${i} ${'x'.repeat(rnd(200))}\n`));
    else if (kind < 75) parts.push(Buffer.from('\n'));
    else if (kind < 80) parts.push(Buffer.from(`crlf ${i}\r\n`));
    else if (kind < 88) parts.push(Buffer.from(`é ✓ 😀 ${i}\n`));
    else if (kind < 94) parts.push(Buffer.from([0x62, 0xff, 0xc0, 0x80, 0xed, 0xa0, 0x80, 0xe2, 0x82, 0x0a]));
    else if (kind < 97) parts.push(Buffer.concat([Buffer.alloc(maxLine + rnd(3 * maxLine), 'y'), Buffer.from('\n')]));
    else parts.push(Buffer.from(`no newline yet ${i} `));
  }
  return Buffer.concat(parts);
}

/** Cuts `data` into chunks of random sizes up to `max`. */
function chunked(data: Buffer, seed: number, max: number): Buffer[] {
  const rnd = random(seed);
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const n = 1 + rnd(max);
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

/** Feeds the chunks through a splitter into a queue, with or without the bulk path; every batch made. */
function capture(chunks: Buffer[], bulk: boolean, opts: { maxLine?: number; capacityBytes?: number; batchBytes?: number } = {}) {
  const maxLine = opts.maxLine ?? MAX_LINE_BYTES;
  const q = new LogQueue({
    instanceId: '01M8XHGEE8HT5QK6ZTEG9R1HTE',
    capacityBytes: opts.capacityBytes ?? 256 * 1024 * 1024,
    batchBytes: opts.batchBytes,
    encodeLines: bulk ? (...args) => count(native.encodeLines(...args)) : undefined,
  });
  let bulkLines = 0;
  const count = (n: number) => ((bulkLines += n), n);
  let ms = 1_700_000_000_000;
  const s = new LineSplitter(
    (buf, start, end, valid) => q.push(buf, start, end, valid, Source.APP, ms),
    maxLine,
    q.bulk ? (buf, start, end, max) => q.pushLines(buf, start, end, max, Source.APP, ms) : undefined,
  );
  const batches: Batch[] = [];
  chunks.forEach((chunk, i) => {
    ms += i % 3; // some chunks share a millisecond
    s.push(chunk, ms);
    if (i % 50 === 49) q.pushText(`our own record ${i}\n`, Source.ENTRYPOINT, ms);
    if (i % 97 === 96) s.flushPartial();
    if (i % 40 === 39) for (let b = q.take(); b; b = q.take()) batches.push(b);
  });
  s.end();
  q.seal();
  for (let b = q.take(); b; b = q.take()) batches.push(b);
  const made = { batches: batches.map((b) => ({ bytes: b.bytes.toString('hex'), lines: b.lines, marks: b.marks })), dropped: q.totalDropped };
  return { made, bulkLines };
}

describe('bulk line encoding', () => {
  it('makes the very batches the line-by-line path makes, for any app output cut anyhow', () => {
    for (const seed of [1, 2, 3]) {
      const data = appOutput(seed, 1000);
      for (const max of [7, 300, 5000, 300_000]) {
        const chunks = chunked(data, seed * 31 + max, max);
        const opts = { maxLine: 1000, batchBytes: 16 * 1024 };
        const bulk = capture(chunks, true, opts);
        expect(bulk.made).toEqual(capture(chunks, false, opts).made);
        // Most lines went the bulk way (not with chunks smaller than a line).
        if (max >= 5000) expect(bulk.bulkLines).toBeGreaterThan(1500);
      }
    }
  });

  it('drops and marks the same lines as the line-by-line path when the queue is full', () => {
    const data = appOutput(7, MAX_LINE_BYTES);
    const chunks = chunked(data, 7, 256 * 1024);
    const opts = { capacityBytes: 256 * 1024, batchBytes: 32 * 1024 };
    const bulk = capture(chunks, true, opts);
    expect(bulk.made.dropped).toBeGreaterThan(0);
    expect(bulk.bulkLines).toBeGreaterThan(1500);
    expect(bulk.made).toEqual(capture(chunks, false, opts).made);
  });

  it('takes a line exactly when Node calls it valid UTF-8', () => {
    const samples = [
      [0x41],
      [0xc2, 0x80],
      [0xdf, 0xbf],
      [0xe0, 0xa0, 0x80],
      [0xef, 0xbf, 0xbf],
      [0xf0, 0x90, 0x80, 0x80],
      [0xf4, 0x8f, 0xbf, 0xbf],
      [0xc0, 0x80], // overlong
      [0xc1, 0xbf],
      [0xe0, 0x9f, 0xbf],
      [0xed, 0xa0, 0x80], // a surrogate
      [0xed, 0x9f, 0xbf],
      [0xf0, 0x8f, 0xbf, 0xbf],
      [0xf4, 0x90, 0x80, 0x80], // past U+10FFFF
      [0xf5, 0x80, 0x80, 0x80],
      [0xff],
      [0x80],
      [0xe2, 0x82], // cut short
      [0xe2, 0x28, 0xa1],
      [0xf0, 0x90, 0x80],
    ];
    const rnd = random(99);
    for (let i = 0; i < 2000; i++) samples.push(Array.from({ length: 1 + rnd(12) }, () => (rnd(4) === 0 ? rnd(256) : 0x80 + rnd(0x78))));
    const out = Buffer.alloc(1024);
    const state = new Float64Array(2);
    const ts = timestampField(1_700_000_000_123);
    for (const sample of samples) {
      for (const prefix of [0, 5, 9]) {
        const line = Buffer.from([...Array(prefix).fill(0x61), ...sample.filter((b) => b !== 0x0a), 0x0a]);
        const taken = native.encodeLines(line, 0, line.length, ts, Source.APP, out, 0, out.length, MAX_LINE_BYTES, state);
        expect({ line: line.toString('hex'), taken }).toEqual({ line: line.toString('hex'), taken: isUtf8(line) ? 1 : 0 });
      }
    }
  });

  it('writes what writeEntry writes, with a source; stops at the line limit, at no room, at stopAt, and before a partial line', () => {
    const ts = timestampField(1_700_000_000_001);
    const src = Buffer.from('one\ntwo two\nthree three three\nfour');
    const state = new Float64Array(2);
    const out = Buffer.alloc(200);
    expect(native.encodeLines(src, 0, src.length, ts, Source.ENTRYPOINT, out, 3, 200, 100, state)).toBe(3);
    const want = Buffer.alloc(200);
    let pos = 3;
    for (const [a, b] of [[0, 4], [4, 12], [12, 30]]) pos = writeEntry(want, pos, ts, src, a, b, Source.ENTRYPOINT);
    expect([...state]).toEqual([30, pos]);
    expect(out.subarray(3, pos).equals(want.subarray(3, pos))).toBe(true);
    // "three three three\n" is 18 bytes: over a limit of 17 it is left to JavaScript.
    expect(native.encodeLines(src, 0, src.length, ts, Source.APP, out, 0, 200, 17, state)).toBe(2);
    expect(state[0]).toBe(12);
    // No room for the second entry.
    expect(native.encodeLines(src, 0, src.length, ts, Source.APP, out.subarray(0, 30), 0, 200, 100, state)).toBe(1);
    expect(state[0]).toBe(4);
    // stopAt: once the batch holds that much, it stops even with room left.
    expect(native.encodeLines(src, 0, src.length, ts, Source.APP, out, 0, 1, 100, state)).toBe(1);
    expect(() => native.encodeLines(src, 0, src.length + 1, ts, Source.APP, out, 0, 200, 100, state)).toThrow(TypeError);
    expect(() => native.encodeLines(src, 0, 4, ts, Source.APP, out, 0, 200, 100, new Float64Array(1))).toThrow(TypeError);
  });
});

describe('LogQueue buffer reuse', () => {
  const line = (n: number) => `line ${String(n).padStart(6, '0')} ${'x'.repeat(90)}\n`;
  const decode = (b: Batch) => {
    const lines: string[] = [];
    // Entries after the instance id: tag 0x12, length, then the line in field 2 of each.
    let pos = 2 + b.bytes[1];
    while (pos < b.bytes.length) {
      const [len, next] = varint(b.bytes, pos + 1);
      const entry = b.bytes.subarray(next, next + len);
      const tsLen = entry[1];
      const [lineLen, lineAt] = varint(entry, 2 + tsLen + 1);
      lines.push(entry.subarray(lineAt, lineAt + lineLen).toString());
      pos = next + len;
    }
    return lines;
  };
  function varint(buf: Buffer, pos: number): [number, number] {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = buf[pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return [value, pos];
    }
  }

  it("fills new batches in dropped batches' buffers, never in a taken one's, and the kept lines stay intact", () => {
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 64 * 1024, batchBytes: 8 * 1024 });
    let n = 0;
    while (q.bytes < 9 * 1024) q.pushText(line(n++), Source.APP, 1);
    const taken = q.take()!;
    const takenLines = decode(taken);
    const takenBuffer = taken.bytes.buffer;
    const buffers = new Set<ArrayBufferLike>();
    for (let i = 0; i < 5000; i++) {
      q.pushText(line(n++), Source.APP, 2);
      const open = (q as unknown as { open?: { buf: Buffer } }).open; // the batch being filled
      if (open) buffers.add(open.buf.buffer);
    }
    q.seal();
    expect(q.dropped).toBeGreaterThan(4000);
    // A few buffers went round, instead of one new one per batch (~70 batches were filled).
    expect(buffers.size).toBeLessThan(20);
    expect(buffers.has(takenBuffer)).toBe(false);
    expect(decode(taken)).toEqual(takenLines);
    const kept: string[] = [];
    for (let b = q.take(); b; b = q.take()) if (!b.marks) kept.push(...decode(b));
    expect(kept).toEqual(Array.from({ length: kept.length }, (_, i) => line(n - kept.length + i)));
  });

  it('hands every batch out framable in place: its gRPC frame header fits in front of it, in its own bytes', () => {
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 1 << 20, batchBytes: 8 * 1024 });
    for (let n = 0; n < 200; n++) q.pushText(line(n), Source.APP, 1); // full batches, sent as views
    q.pushText(line(200), Source.APP, 1);
    q.seal(); // a short batch, copied to its size
    const batches: Batch[] = [];
    for (let b = q.take(); b; b = q.take()) batches.push(b);
    expect(batches.length).toBeGreaterThan(2);
    const lines: string[] = [];
    for (const b of batches) {
      const before = Buffer.from(b.bytes);
      const frame = frameInPlace(b.bytes);
      expect(frame).toBeDefined();
      // The frame is the header (uncompressed, the length big-endian), then the batch unchanged.
      expect(frame!.subarray(0, 5)).toEqual(Buffer.from([0, ...[24, 16, 8, 0].map((s) => (b.bytes.length >>> s) & 0xff)]));
      expect(frame!.subarray(5).equals(before)).toBe(true);
      expect(frame!.buffer).toBe(b.bytes.buffer);
      lines.push(...decode(b));
    }
    expect(lines).toEqual(Array.from({ length: 201 }, (_, n) => line(n)));
  });
});
