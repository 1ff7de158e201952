// The server's hand decoder of EntrypointLogBatch against protobufjs (the reference): random
// batches, the entrypoint's own encoding, unknown fields of every wire type, repeated fields,
// malformed input (every truncation, bad varints, lengths, wire types, groups, random bytes:
// a MalformedLogBatch, never a throw), empty, multibyte and large lines; and its place in the
// server's service definition only.
import { describe, expect, it } from 'vitest';
import type { EntrypointLogBatch } from '../../../../src/protocol/generated/hashicorp/waypoint/EntrypointLogBatch.js';
import { INLINE_KEEPALIVE_BYTES, KEEPALIVE } from '../../../../src/protocol/keepalive.js';
import { protocol } from '../../../../src/protocol/load.js';
import { LogQueue } from '../../../../src/logs/queue.js';
import { Source } from '../../../../src/logs/wire.js';
import { waypointServiceDefinition } from '../../../../src/server/api/definition.js';
import { LogBatchLines, MalformedLogBatch } from '../../../../src/server/logs/batch.js';
import { decodeLogBatch, deserializeLogStreamMessage } from '../../../../src/server/logs/wire-decode.js';
import { BatchType, encodeBatch, protobuf } from '../../../helpers/log-batch.js';

interface Line {
  line: string;
  stamped: boolean;
  seconds: number;
  nanos: number;
  source: 'app' | 'entrypoint';
}

function ours(buf: Buffer): { instanceId: string; lines: Line[] } {
  const b = decodeLogBatch(buf);
  if (b instanceof MalformedLogBatch) throw new Error(b.reason);
  const lines: Line[] = [];
  for (let i = 0; i < b.count; i++) {
    lines.push({ line: b.line(i), stamped: b.hasTimestamp(i), seconds: b.seconds(i), nanos: b.nanos(i), source: b.source(i) });
  }
  expect(b.textBytes).toBe(lines.reduce((n, l) => n + Buffer.byteLength(l.line), 0));
  return { instanceId: b.instanceId, lines };
}

/**
 * protobufjs's reading, as the server used to hold it (one trailing newline cut off). From a
 * plain Uint8Array: for a Buffer, protobufjs reads a string cut short by the message's end
 * without complaint, which its generic reader (like ours) refuses.
 */
function reference(buf: Buffer): { instanceId: string; lines: Line[] } {
  const o = BatchType.toObject(BatchType.decode(new Uint8Array(buf)), { longs: String, enums: String, defaults: true, oneofs: true });
  return {
    instanceId: o.instance_id,
    lines: (o.lines as Array<{ line: string; timestamp: { seconds: string; nanos: number } | null; source: string | number }>).map((e) => {
      const stamped = e.timestamp !== null && inRange(Number(e.timestamp.seconds), e.timestamp.nanos);
      return {
        line: e.line.endsWith('\n') ? e.line.slice(0, -1) : e.line,
        stamped,
        seconds: stamped ? Number(e.timestamp!.seconds) : 0,
        nanos: stamped ? e.timestamp!.nanos : 0,
        source: e.source === 'ENTRYPOINT' ? 'entrypoint' : 'app',
      };
    }),
  };
}

/** M6: the one place the server reads differently: a time out of Timestamp's range is none. */
function inRange(seconds: number, nanos: number): boolean {
  return seconds >= -62_135_596_800 && seconds <= 253_402_300_799 && nanos >= 0 && nanos <= 999_999_999;
}

/** A small seeded PRNG: the same cases on every run. */
function prng(seed: number) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)];
  return { next, int, pick };
}

const PIECES = ['a', 'hello world', ' ', '\n', '\r', '\t', 'é', '€', '日本語', '😀', '\u0000', '{"k":1}', 'x'.repeat(200)];

function randomBatch(r: ReturnType<typeof prng>): EntrypointLogBatch {
  const lines = Array.from({ length: r.int(40) }, () => {
    const text = Array.from({ length: r.int(6) }, () => r.pick(PIECES)).join('') + r.pick(['', '\n', '\n\n', '\r\n']);
    const timestamp = r.pick([
      undefined,
      { seconds: 0, nanos: 0 },
      { seconds: String(1_700_000_000 + r.int(1e6)), nanos: r.int(1e9) },
      { seconds: String(-r.int(1e10)), nanos: r.int(1e9) },
      { seconds: '9007199254740991', nanos: 999_999_999 },
      { seconds: '-9223372036854775808', nanos: -1 },
    ]);
    return { line: text, timestamp, source: r.pick(['APP', 'ENTRYPOINT', 7, -1] as const) as 'APP' };
  });
  return { instance_id: r.pick(['', 'i', '01HQ-INSTANCE', 'ínstance-☃']), lines };
}

describe('decodeLogBatch against protobufjs', () => {
  it('reads 500 random batches exactly as protobufjs does', () => {
    const r = prng(42);
    for (let n = 0; n < 500; n++) {
      const buf = encodeBatch(randomBatch(r));
      expect(ours(buf)).toEqual(reference(buf));
    }
  });

  it("reads the entrypoint's own encoding (src/logs/wire.ts)", () => {
    const batches: Buffer[] = [];
    const q = new LogQueue({ instanceId: '01INSTANCE', capacityBytes: 1 << 20, batchBytes: 1024, onReady: () => batches.push(q.take()!.bytes) });
    for (let i = 0; i < 200; i++) q.pushText(`line ${i} ${'€'.repeat(i % 7)}\n`, i % 5 ? Source.APP : Source.ENTRYPOINT, 1_700_000_000_000 + i);
    q.seal();
    expect(batches.length).toBeGreaterThan(5);
    const lines = batches.flatMap((b) => {
      expect(ours(b)).toEqual(reference(b));
      return ours(b).lines;
    });
    expect(lines.map((l) => l.line)).toEqual(Array.from({ length: 200 }, (_, i) => `line ${i} ${'€'.repeat(i % 7)}`));
    expect(lines[3]).toEqual({ line: 'line 3 €€€', stamped: true, seconds: 1_700_000_000, nanos: 3_000_000, source: 'app' });
    expect(lines[5].source).toBe('entrypoint');
  });

  it('empty batches, empty entries, empty lines, and lines of one newline', () => {
    expect(ours(Buffer.alloc(0))).toEqual({ instanceId: '', lines: [] });
    const buf = encodeBatch({ instance_id: 'i', lines: [{}, { line: '' }, { line: '\n' }, { line: '\n\n' }] });
    expect(ours(buf)).toEqual(reference(buf));
    expect(ours(buf).lines.map((l) => [l.line, l.stamped])).toEqual([['', false], ['', false], ['', false], ['\n', false]]);
  });

  it('multibyte UTF-8 and large lines (1 MiB, and 64 KiB of 4-byte characters)', () => {
    const big = 'y'.repeat(1 << 20);
    const emoji = '😀'.repeat(16 * 1024);
    const buf = encodeBatch({ instance_id: 'i', lines: [{ line: `${big}\n` }, { line: emoji }, { line: 'Grüße, 世界\n' }] });
    const got = ours(buf);
    expect(got).toEqual(reference(buf));
    expect(got.lines.map((l) => l.line.length)).toEqual([1 << 20, 32 * 1024, 'Grüße, 世界'.length]);
  });
});

/** A message written field by field, for what protobufjs's encoder would never write. */
const w = () => protobuf.Writer.create();
const tag = (field: number, type: number) => (field << 3) | type;
const bytes = (writer: import('protobufjs').Writer) => Buffer.from(writer.finish());
const entryBytes = (text: string) => bytes(w().uint32(tag(2, 2)).string(text));

/** Every kind of unknown field, written into `writer`. */
function unknowns(writer: import('protobufjs').Writer, field: number): import('protobufjs').Writer {
  return writer
    .uint32(tag(field, 0)).uint64('18446744073709551615')
    .uint32(tag(field + 1, 1)).fixed64(123)
    .uint32(tag(field + 2, 2)).bytes(Buffer.from([1, 2, 3, 0x80]))
    .uint32(tag(field + 3, 3)).uint32(tag(1, 0)).uint32(5).uint32(tag(2, 3)).uint32(tag(7, 5)).fixed32(1).uint32(tag(2, 4)).uint32(tag(field + 3, 4))
    .uint32(tag(field + 4, 5)).fixed32(7)
    .uint32(tag(536_870_911, 2)).bytes(Buffer.from('the largest field number'));
}

describe('unknown and repeated fields', () => {
  it('skips unknown fields of every wire type, at every level, as protobufjs does', () => {
    const ts = bytes(unknowns(w().uint32(tag(1, 0)).int64(1_700_000_000), 9).uint32(tag(2, 0)).int32(42));
    const entry = bytes(unknowns(w().uint32(tag(1, 2)).bytes(ts), 4).uint32(tag(2, 2)).string('kept\n').uint32(tag(3, 0)).int32(1));
    const batch = bytes(unknowns(w(), 3).uint32(tag(1, 2)).string('inst').uint32(tag(2, 2)).bytes(entry).uint32(tag(2, 2)).bytes(entry));
    expect(ours(batch)).toEqual(reference(batch));
    expect(ours(batch).lines[1]).toEqual({ line: 'kept', stamped: true, seconds: 1_700_000_000, nanos: 42, source: 'entrypoint' });
  });

  it('takes a known field of the wrong wire type as unknown (as Go does)', () => {
    const entry = bytes(w().uint32(tag(2, 0)).uint32(99).uint32(tag(3, 2)).bytes(Buffer.from('x')).uint32(tag(2, 2)).string('real'));
    const batch = bytes(w().uint32(tag(1, 0)).uint32(5).uint32(tag(1, 2)).string('inst').uint32(tag(2, 5)).fixed32(1).uint32(tag(2, 2)).bytes(entry));
    expect(ours(batch)).toEqual({ instanceId: 'inst', lines: [{ line: 'real', stamped: false, seconds: 0, nanos: 0, source: 'app' }] });
  });

  it('last one wins for a repeated scalar; a repeated timestamp merges field by field', () => {
    const ts1 = bytes(w().uint32(tag(1, 0)).int64(100).uint32(tag(2, 0)).int32(5));
    const ts2 = bytes(w().uint32(tag(2, 0)).int32(7));
    const entry = bytes(
      w().uint32(tag(2, 2)).string('first').uint32(tag(1, 2)).bytes(ts1).uint32(tag(3, 0)).int32(1)
        .uint32(tag(2, 2)).string('second\n').uint32(tag(1, 2)).bytes(ts2).uint32(tag(3, 0)).int32(0),
    );
    const batch = bytes(w().uint32(tag(1, 2)).string('a').uint32(tag(2, 2)).bytes(entry).uint32(tag(1, 2)).string('b'));
    expect(ours(batch)).toEqual({ instanceId: 'b', lines: [{ line: 'second', stamped: true, seconds: 100, nanos: 7, source: 'app' }] });
  });
});

const malformed = (buf: Buffer) => {
  const got = decodeLogBatch(buf);
  expect(got).toBeInstanceOf(MalformedLogBatch);
  return (got as MalformedLogBatch).reason;
};

describe('timestamps (M6)', () => {
  it('M6: seconds or nanos out of Timestamp range count as no timestamp (the arrival time is shown)', () => {
    const at = (seconds: string, nanos: number) => ours(encodeBatch({ instance_id: 'i', lines: [{ line: 'x', timestamp: { seconds, nanos } }] })).lines[0];
    for (const [seconds, nanos] of [[String(2 ** 53), 0], ['-99999999999999', 0], ['1700000000', -5], ['1700000000', 1e9], ['253402300800', 0], ['-62135596801', 0]] as const) {
      expect(at(seconds, nanos)).toEqual({ line: 'x', stamped: false, seconds: 0, nanos: 0, source: 'app' });
    }
    expect(at('253402300799', 999_999_999)).toMatchObject({ stamped: true, seconds: 253402300799, nanos: 999_999_999 });
    expect(at('-62135596800', 0)).toMatchObject({ stamped: true, seconds: -62135596800, nanos: 0 });
  });
});

describe('malformed input', () => {
  it('every truncation of a batch is refused exactly when protobufjs refuses it, else read alike', () => {
    const r = prng(7);
    for (let n = 0; n < 20; n++) {
      const buf = encodeBatch(randomBatch(r));
      for (let len = 0; len < buf.length; len += 1 + (buf.length >> 7)) {
        const cut = buf.subarray(0, len);
        let refThrew = false;
        let ref: ReturnType<typeof reference> | undefined;
        try {
          ref = reference(cut);
        } catch {
          refThrew = true;
        }
        if (refThrew) malformed(cut);
        else expect(ours(cut)).toEqual(ref);
      }
    }
  });

  it('names what is wrong', () => {
    expect(malformed(Buffer.from([0x12, 0x05, 0x12]))).toMatch(/^malformed EntrypointLogBatch: a length runs past the end/);
    expect(malformed(Buffer.from([0x12]))).toMatch(/a varint runs past the end/);
    expect(malformed(Buffer.from([0x08, ...Array(10).fill(0xff), 0x01]))).toMatch(/longer than 10 bytes/);
    expect(malformed(Buffer.from([0x0e]))).toMatch(/wire type 6 does not exist/);
    expect(malformed(Buffer.from([0x0f]))).toMatch(/wire type 7 does not exist/);
    expect(malformed(Buffer.from([0x02, 0x00]))).toMatch(/field number out of range/);
    expect(malformed(Buffer.from([0x1c]))).toMatch(/group ends that never started/);
    expect(malformed(Buffer.from([0x1b, 0x24]))).toMatch(/group ends with another field number/);
    expect(malformed(Buffer.from([0x1b, 0x08, 0x01]))).toMatch(/varint runs past the end/);
    expect(malformed(Buffer.from([0x09, 1, 2, 3]))).toMatch(/fixed64 runs past/);
    expect(malformed(Buffer.from([0x0d, 1, 2]))).toMatch(/fixed32 runs past/);
    const deep = Buffer.concat([Buffer.alloc(40, 0x1b), Buffer.alloc(40, 0x1c)]);
    expect(malformed(deep)).toMatch(/nested too deep/);
  });

  it('a field may not run past the end of the entry or timestamp that holds it', () => {
    // The entry says 4 bytes; its line field says 10, which the batch has (in an unknown field
    // 3 after it) but the entry does not.
    const lineTooLong = Buffer.concat([Buffer.from([0x12, 0x04, 0x12, 0x0a]), Buffer.from('ab'), Buffer.from([0x1a, 0x0a]), Buffer.alloc(10, 0x61)]);
    expect(malformed(lineTooLong)).toMatch(/length runs past the end/);
    // The timestamp's varint goes on past it, into an unknown field 3 of the batch.
    const tsVarintCut = Buffer.from([0x12, 0x04, 0x0a, 0x02, 0x08, 0x80, 0x18, 0x01]);
    expect(malformed(tsVarintCut)).toMatch(/varint runs past the end/);
  });

  it('never throws on random bytes, nor on random corruptions of a batch', () => {
    const r = prng(99);
    for (let n = 0; n < 3000; n++) {
      const buf = Buffer.from(Array.from({ length: r.int(64) }, () => r.int(256)));
      expect(() => decodeLogBatch(buf)).not.toThrow();
    }
    for (let n = 0; n < 300; n++) {
      const buf = encodeBatch(randomBatch(r));
      for (let k = 0; k < 5 && buf.length > 0; k++) buf[r.int(buf.length)] = r.int(256);
      const got = decodeLogBatch(buf);
      expect(got instanceof LogBatchLines || got instanceof MalformedLogBatch).toBe(true);
    }
  });
});

describe('on the server', () => {
  it('a keepalive stays KEEPALIVE, a batch is decoded, malformed is said', () => {
    expect(deserializeLogStreamMessage(Buffer.from(INLINE_KEEPALIVE_BYTES))).toBe(KEEPALIVE);
    expect(deserializeLogStreamMessage(encodeBatch({ instance_id: 'i', lines: [{ line: 'x' }] }))).toBeInstanceOf(LogBatchLines);
    expect(deserializeLogStreamMessage(Buffer.from([0xff]))).toBeInstanceOf(MalformedLogBatch);
  });

  it("is the server definition's EntrypointLogStream deserializer only; clients keep protobufjs", () => {
    const own = waypointServiceDefinition();
    expect(own.EntrypointLogStream.requestDeserialize).toBe(deserializeLogStreamMessage);
    const shared = protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, { requestDeserialize(b: Buffer): unknown }>;
    expect(shared.EntrypointLogStream.requestDeserialize).not.toBe(deserializeLogStreamMessage);
    expect(shared.EntrypointLogStream.requestDeserialize(encodeBatch({ instance_id: 'i', lines: [] }))).toMatchObject({ instance_id: 'i' });
  });

  it('a small message is copied off a shared buffer when kept, a large one never', () => {
    const pool = Buffer.alloc(8192);
    const msg = encodeBatch({ instance_id: 'i', lines: [{ line: 'small\n' }] });
    msg.copy(pool, 100);
    const small = decodeLogBatch(pool.subarray(100, 100 + msg.length)) as LogBatchLines;
    small.detach();
    pool.fill(0);
    expect(small.line(0)).toBe('small');
    const large = encodeBatch({ instance_id: 'i', lines: [{ line: 'z'.repeat(10_000) }] });
    const kept = decodeLogBatch(large) as LogBatchLines;
    kept.detach();
    large.fill(0x41, large.length - 10);
    expect(kept.line(0).endsWith('AAAAAAAAAA')).toBe(true); // still a view: not copied
  });
});
