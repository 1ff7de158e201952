// Log capture, the pure parts: the line splitter (partial lines, the 64 KiB cut, UTF-8 cuts,
// CRLF), the wire encoding (decoded back with the real descriptor), and the bounded queue
// (batches, drop-oldest with one marker, requeue).
import { describe, expect, it } from 'vitest';
import { LogQueue } from '../../../src/logs/queue.js';
import { LineSplitter, MAX_LINE_BYTES } from '../../../src/logs/splitter.js';
import { utf8Boundary, validUtf8 } from '../../../src/logs/utf8.js';
import { Source, timestampField } from '../../../src/logs/wire.js';
import { varintLength, writeVarint } from '../../../src/protocol/wire-bytes.js';
import type { EntrypointLogBatch__Output } from '../../../src/protocol/generated/hashicorp/waypoint/EntrypointLogBatch.js';
import { protocol } from '../../../src/protocol/load.js';

/** Splits the chunks; returns the lines emitted (copies) and the splitter. */
function split(chunks: Array<Buffer | string>, max = MAX_LINE_BYTES) {
  const lines: Buffer[] = [];
  const s = new LineSplitter((buf, start, end) => lines.push(Buffer.from(buf.subarray(start, end))), max);
  for (const c of chunks) s.push(typeof c === 'string' ? Buffer.from(c) : c, 0);
  return { lines, s, text: () => lines.map((l) => l.toString()) };
}

describe('LineSplitter', () => {
  it('lines keep their newline; a line across chunks is joined; CRLF stays as bytes', () => {
    const { text, s } = split(['one\ntw', 'o\r\nthr', 'ee', '\n\nfour']);
    expect(text()).toEqual(['one\n', 'two\r\n', 'three\n', '\n']);
    expect(s.hasPartial).toBe(true);
    s.end();
    expect(text().at(-1)).toBe('four');
  });

  it('a partial line goes out on flushPartial, and the rest of it later as a line of its own', () => {
    const { text, s } = split(['prompt> ']);
    expect(text()).toEqual([]);
    s.flushPartial();
    expect(text()).toEqual(['prompt> ']);
    s.push(Buffer.from('answer\n'), 0);
    expect(text()).toEqual(['prompt> ', 'answer\n']);
  });

  it('pendingSince is when the partial line began, not when it last grew', () => {
    const s = new LineSplitter(() => {});
    s.push(Buffer.from('a'), 100);
    s.push(Buffer.from('b'), 200);
    expect(s.pendingSince).toBe(100);
    s.push(Buffer.from('\nc'), 300);
    expect(s.pendingSince).toBe(300);
  });

  it('a line over 64 KiB is cut into pieces of at most 64 KiB, in one chunk or many', () => {
    const line = Buffer.alloc(MAX_LINE_BYTES * 2 + 100, 'x');
    line[line.length - 1] = 0x0a;
    for (const chunks of [[line], [...Array(30)].map((_, i) => line.subarray(i * 8000, (i + 1) * 8000)).filter((c) => c.length)]) {
      const { lines } = split(chunks);
      expect(lines.map((l) => l.length)).toEqual([MAX_LINE_BYTES, MAX_LINE_BYTES, 100]);
      expect(Buffer.concat(lines).equals(line)).toBe(true);
    }
  });

  it('10 MB without a newline: pieces as it comes, never more than 64 KiB held', () => {
    let count = 0;
    let bytes = 0;
    const s = new LineSplitter((_b, start, end) => {
      count++;
      bytes += end - start;
      expect(end - start).toBeLessThanOrEqual(MAX_LINE_BYTES);
    });
    const chunk = Buffer.alloc(65536, 'y');
    for (let i = 0; i < 160; i++) s.push(chunk, 0);
    s.end();
    expect(bytes).toBe(160 * 65536);
    expect(count).toBe(160);
  });

  it('a cut never splits a UTF-8 character', () => {
    // "é" is 2 bytes: 64 KiB + 1 of them cannot end on a character boundary at 64 KiB.
    const line = Buffer.from('é'.repeat(MAX_LINE_BYTES / 2 + 10) + '\n');
    const { lines } = split([line.subarray(0, 1001), line.subarray(1001)]);
    for (const l of lines) expect(validUtf8(l).equals(l)).toBe(true);
    expect(Buffer.concat(lines).equals(line)).toBe(true);
    // The timed flush too: half a character stays for later.
    const { lines: parts, s } = split([Buffer.from([0x61, 0xe2, 0x82])]);
    s.flushPartial();
    expect(parts.map((p) => [...p])).toEqual([[0x61]]);
    s.push(Buffer.from([0xac, 0x0a]), 0);
    expect(parts.at(-1)!.toString()).toBe('€\n');
  });

  it('tells whether the lines are known valid (checked once per chunk)', () => {
    const valid: boolean[] = [];
    const s = new LineSplitter((_b, _s, _e, v) => valid.push(v));
    s.push(Buffer.from('ok\nfine\n'), 0);
    s.push(Buffer.from([0xff, 0x0a]), 0);
    expect(valid).toEqual([true, true, false]);
  });
});

describe('utf8', () => {
  it('validUtf8 replaces invalid bytes with U+FFFD and leaves valid text as is', () => {
    const ok = Buffer.from('héllo');
    expect(validUtf8(ok)).toBe(ok);
    expect(validUtf8(Buffer.from([0x61, 0xff, 0x62, 0xc3])).toString()).toBe('a\ufffdb\ufffd');
  });

  it('utf8Boundary backs off over a character started but not finished', () => {
    const euro = Buffer.from('a€'); // 61 e2 82 ac
    expect(utf8Boundary(euro, 0, 4)).toBe(4);
    expect(utf8Boundary(euro, 0, 3)).toBe(1);
    expect(utf8Boundary(euro, 0, 2)).toBe(1);
    expect(utf8Boundary(Buffer.from([0x80, 0x80, 0x80, 0x80, 0x80]), 0, 5)).toBe(5);
  });
});

describe('wire encoding', () => {
  const decode = (bytes: Buffer): EntrypointLogBatch__Output => {
    const service = protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, { requestDeserialize(b: Buffer): unknown }>;
    return service.EntrypointLogStream.requestDeserialize(bytes) as EntrypointLogBatch__Output;
  };

  it('varints', () => {
    for (const n of [0, 1, 127, 128, 300, 16383, 16384, 2 ** 31, 2 ** 40 + 5]) {
      const buf = Buffer.alloc(10);
      const end = writeVarint(buf, 0, n);
      expect(end).toBe(varintLength(n));
    }
    expect([...timestampField(1_700_000_000_123).subarray(0, 2)]).toEqual([0x0a, timestampField(1_700_000_000_123).length - 2]);
  });

  it('a batch decodes with the real descriptor: instance id, lines, timestamps, sources', () => {
    const q = new LogQueue({ instanceId: '01INSTANCE', capacityBytes: 1024 * 1024 });
    const t = 1_700_000_000_123;
    q.pushText('hello\n', Source.APP, t);
    q.pushText('ours\n', Source.ENTRYPOINT, t + 1);
    const big = Buffer.alloc(70_000, 'z');
    q.push(big, 0, big.length, true, Source.APP, t + 2000);
    q.push(Buffer.from([0x61, 0xff, 0x0a]), 0, 3, false, Source.APP, t + 2001);
    q.seal();
    const batches = [q.take()!, q.take()!].filter(Boolean);
    const lines = batches.flatMap((b) => decode(b.bytes).lines);
    expect(batches.every((b) => decode(b.bytes).instance_id === '01INSTANCE')).toBe(true);
    expect(lines.map((l) => [l.line.slice(0, 6), l.source])).toEqual([
      ['hello\n', 'APP'],
      ['ours\n', 'ENTRYPOINT'],
      ['zzzzzz', 'APP'],
      ['a\ufffd\n', 'APP'],
    ]);
    expect(lines[2].line).toHaveLength(70_000);
    expect(lines.map((l) => [l.timestamp!.seconds, l.timestamp!.nanos])).toEqual([
      ['1700000000', 123_000_000],
      ['1700000000', 124_000_000],
      ['1700000002', 123_000_000],
      ['1700000002', 124_000_000],
    ]);
  });
});

describe('LogQueue', () => {
  const line = (n: number) => `line ${String(n).padStart(5, '0')} ${'x'.repeat(80)}\n`;

  it('seals a batch at its size; take() is oldest first', () => {
    const ready: number[] = [];
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 1024 * 1024, batchBytes: 1024, onReady: () => ready.push(1) });
    for (let i = 0; i < 30; i++) q.pushText(line(i), Source.APP, 1);
    expect(ready.length).toBeGreaterThanOrEqual(2);
    const first = q.take()!;
    expect(first.lines).toBeGreaterThan(5);
    expect(first.bytes.length).toBeGreaterThanOrEqual(1024);
  });

  it('sends a full batch as it was filled (no copy), copies one sealed early, and never mixes them up', () => {
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 64 * 1024 * 1024 });
    const service = protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, { requestDeserialize(b: Buffer): unknown }>;
    const lines = (b: { bytes: Buffer }) => (service.EntrypointLogStream.requestDeserialize(b.bytes) as EntrypointLogBatch__Output).lines.map((l) => l.line);
    let n = 0;
    while (q.bytes < 128 * 1024 + 200) q.pushText(line(n++), Source.APP, 1);
    const full = q.take()!;
    expect(full.bytes.length).toBeGreaterThanOrEqual(128 * 1024);
    expect(full.bytes.buffer.byteLength).toBeGreaterThan(full.bytes.length); // a view of its own buffer
    expect(full.bytes.buffer.byteLength - full.bytes.length).toBeLessThanOrEqual(full.bytes.buffer.byteLength / 8);
    q.seal(); // the few lines after it, sealed early: copied to their size (and the frame header's room)
    const early = q.take()!;
    expect(early.bytes.buffer.byteLength).toBe(early.bytes.length + 5);
    // The next batches are filled in the buffer the early one was copied out of: both intact.
    const before = [lines(full), lines(early)];
    while (q.bytes < 300 * 1024) q.pushText(line(n++), Source.APP, 1);
    q.seal();
    expect([lines(full), lines(early)]).toEqual(before);
    const all = [...before.flat()];
    for (let b = q.take(); b; b = q.take()) all.push(...lines(b));
    expect(all).toEqual(Array.from({ length: n }, (_, i) => line(i)));
  });

  it('counts the lines capture missed like its own drops, and its marker says capture fell behind', () => {
    const drops: number[] = [];
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 16 * 1024, onDrop: (n) => drops.push(n) });
    q.pushText(line(0), Source.APP, 1);
    q.dropMissed(41);
    q.pushText(line(42), Source.APP, 2);
    q.seal();
    expect({ drops, total: q.totalDropped }).toEqual({ drops: [41], total: 41 });
    const service = protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, { requestDeserialize(b: Buffer): unknown }>;
    const marker = q.take()!;
    expect(marker.marks).toBe(41);
    expect((service.EntrypointLogStream.requestDeserialize(marker.bytes) as EntrypointLogBatch__Output).lines[0].line).toBe(
      'waypoint-entrypoint: 41 log lines were dropped: the log queue (16384 bytes) was full or log capture fell behind the app\n',
    );
    const kept = (service.EntrypointLogStream.requestDeserialize(q.take()!.bytes) as EntrypointLogBatch__Output).lines.map((l) => l.line);
    expect(kept).toEqual([line(0), line(42)]);
  });

  it('over its byte bound it drops the oldest, counts them, and one marker comes first', () => {
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 16 * 1024, batchBytes: 1024 });
    for (let i = 0; i < 1000; i++) q.pushText(line(i), Source.APP, 1000 + i);
    expect(q.bytes).toBeLessThanOrEqual(16 * 1024);
    expect(q.dropped).toBeGreaterThan(800);
    const dropped = q.dropped;
    q.seal();
    const marker = q.take()!;
    expect(marker.marks).toBe(dropped);
    const service = protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, { requestDeserialize(b: Buffer): unknown }>;
    const decoded = service.EntrypointLogStream.requestDeserialize(marker.bytes) as EntrypointLogBatch__Output;
    expect(decoded.lines).toHaveLength(1);
    expect(decoded.lines[0].source).toBe('ENTRYPOINT');
    expect(decoded.lines[0].line).toBe(`waypoint-entrypoint: ${dropped} log lines were dropped: the log queue (16384 bytes) was full\n`);
    // Then the kept lines, the newest ones, in order, without a gap.
    const kept: string[] = [];
    for (let b = q.take(); b; b = q.take()) {
      kept.push(...(service.EntrypointLogStream.requestDeserialize(b.bytes) as EntrypointLogBatch__Output).lines.map((l) => l.line));
    }
    expect(kept.at(-1)).toBe(line(999));
    expect(kept.length + dropped).toBe(1000);
    expect(kept[0]).toBe(line(dropped));
    expect(q.dropped).toBe(0);
    expect(q.empty).toBe(true);
  });

  it('setCapacity: a lower bound drops the oldest at once', () => {
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 1024 * 1024, batchBytes: 1024 });
    for (let i = 0; i < 1000; i++) q.pushText(line(i), Source.APP, 1);
    expect(q.dropped).toBe(0);
    q.setCapacity(8 * 1024);
    expect(q.bytes).toBeLessThanOrEqual(8 * 1024);
    expect(q.dropped).toBeGreaterThan(900);
  });

  it('requeue puts refused batches back in front, and a marker back as a count', () => {
    const q = new LogQueue({ instanceId: 'i', capacityBytes: 1024 * 1024, batchBytes: 1024 });
    for (let i = 0; i < 30; i++) q.pushText(line(i), Source.APP, 1);
    q.seal();
    const a = q.take()!;
    const b = q.take()!;
    q.requeue([a, b, { bytes: Buffer.alloc(3), lines: 0, firstMs: 1, marks: 7 }]);
    expect(q.dropped).toBe(7);
    expect(q.take()!.marks).toBe(7);
    expect(q.take()).toBe(a);
    expect(q.take()).toBe(b);
  });
});
