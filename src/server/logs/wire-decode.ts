// EntrypointLogBatch decoded by hand, the mirror of the entrypoint's encoder (src/logs/wire.ts):
// protobufjs would make an object per line, a Long and then a string per timestamp, and a
// string per line, which at a million lines a second took more of the machine than the app it
// serves. Here a batch is two passes over its bytes, filling one flat array (LogBatchLines).
//   EntrypointLogBatch { 1: instance_id string; 2: lines repeated LogBatch.Entry }
//   LogBatch.Entry     { 1: timestamp Timestamp; 2: line string; 3: source enum }
//   Timestamp          { 1: seconds int64; 2: nanos int32 }
// Protobuf rules kept: unknown fields of any wire type (groups too) are skipped; a known field
// with another wire type than its own is unknown (as Go's decoder has it); of a repeated
// singular field the last wins, a repeated message field merges. A timestamp out of Timestamp's
// range counts as none (the arrival time is shown). A malformed message (truncated,
// a length past its end, a bad varint or wire type) is a MalformedLogBatch, never a throw.
import { isInlineKeepalive, KEEPALIVE } from '../../protocol/keepalive.js';
import { LogBatchLines, MalformedLogBatch, STRIDE } from './batch.js';

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const START_GROUP = 3;
const END_GROUP = 4;
const FIXED32 = 5;
/** Groups nested deeper than this are refused rather than followed. */
const MAX_GROUP_DEPTH = 32;
const NEWLINE = 0x0a;
/** google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;
const MAX_NANOS = 999_999_999;

class Malformed extends Error {}

// The decoding position and the high half of the last varint, shared by the readers below
// rather than returned in an object: nothing is allocated per field.
let pos = 0;
let hi = 0;

/** A varint at `pos` (< limit): returns its low 32 bits (unsigned), its high 32 in `hi`. */
function varint(buf: Buffer, limit: number): number {
  let b = pos < limit ? buf[pos++] : fail('a varint runs past the end');
  if (b < 0x80) {
    hi = 0;
    return b;
  }
  let lo = b & 0x7f;
  for (let shift = 7; shift < 28; shift += 7) {
    b = pos < limit ? buf[pos++] : fail('a varint runs past the end');
    lo |= (b & 0x7f) << shift;
    if (b < 0x80) {
      hi = 0;
      return lo >>> 0;
    }
  }
  b = pos < limit ? buf[pos++] : fail('a varint runs past the end'); // bits 28..34
  lo |= (b & 0x0f) << 28;
  hi = (b & 0x7f) >> 4;
  for (let shift = 3; b >= 0x80; shift += 7) {
    if (shift > 31) fail('a varint is longer than 10 bytes');
    b = pos < limit ? buf[pos++] : fail('a varint runs past the end');
    hi |= (b & 0x7f) << shift;
  }
  hi >>>= 0;
  return lo >>> 0;
}

/** A length: the end of the field it announces, which must lie within `limit`. */
function lengthEnd(buf: Buffer, limit: number): number {
  const b = pos < limit ? buf[pos] : 0x80;
  const n = b < 0x80 ? (pos++, (hi = 0), b) : varint(buf, limit); // most are one byte
  if (hi !== 0 || n > limit - pos) fail('a length runs past the end of its message');
  return pos + n;
}

/** int64, as protobufjs's Long would give it as a Number (exact below 2^53). */
function int64(buf: Buffer, limit: number): number {
  // Seconds since 1970 take 5 bytes: read such a one straight, without the general case.
  if (limit - pos >= 5) {
    let b = buf[pos];
    let v = b & 0x7f;
    if (b < 0x80) return (pos += 1), v;
    b = buf[pos + 1];
    v |= (b & 0x7f) << 7;
    if (b < 0x80) return (pos += 2), v;
    b = buf[pos + 2];
    v |= (b & 0x7f) << 14;
    if (b < 0x80) return (pos += 3), v;
    b = buf[pos + 3];
    v |= (b & 0x7f) << 21;
    if (b < 0x80) return (pos += 4), v;
    b = buf[pos + 4];
    if (b < 0x80) return (pos += 5), v + b * 268435456;
  }
  const lo = varint(buf, limit);
  if (hi >>> 31 === 0) return hi * 4294967296 + lo;
  const nlo = (~lo + 1) >>> 0;
  const nhi = nlo === 0 ? (~hi + 1) >>> 0 : ~hi >>> 0;
  return -(nhi * 4294967296 + nlo);
}

/** Skips the value of a field of wire type `type` (its tag read, with field number `field`). */
function skip(buf: Buffer, limit: number, type: number, field: number, depth: number): void {
  switch (type) {
    case VARINT:
      varint(buf, limit);
      return;
    case FIXED64:
      if (limit - pos < 8) fail('a fixed64 runs past the end');
      pos += 8;
      return;
    case LEN:
      pos = lengthEnd(buf, limit);
      return;
    case START_GROUP:
      if (depth >= MAX_GROUP_DEPTH) fail('groups nested too deep');
      for (;;) {
        const tag = varint(buf, limit);
        if (hi !== 0 || tag >>> 3 === 0) fail('a field number out of range');
        if ((tag & 7) === END_GROUP) {
          if (tag >>> 3 !== field) fail('a group ends with another field number');
          return;
        }
        skip(buf, limit, tag & 7, tag >>> 3, depth + 1);
      }
    case FIXED32:
      if (limit - pos < 4) fail('a fixed32 runs past the end');
      pos += 4;
      return;
    case END_GROUP:
      fail('a group ends that never started');
    default:
      fail(`wire type ${type} does not exist`);
  }
}

/** The next tag (at `pos` < limit): field number * 8 + wire type. */
function tag(buf: Buffer, limit: number): number {
  const b = pos < limit ? buf[pos] : 0x80;
  if (b < 0x80 && b >= 8) {
    pos++; // every tag of ours is one byte
    return b;
  }
  const t = varint(buf, limit);
  if (hi !== 0 || t >>> 3 === 0) fail('a field number out of range');
  return t;
}

function fail(reason: string): never {
  throw new Malformed(reason);
}

/** Decodes one batch; on malformed input, says why instead of throwing. */
export function decodeLogBatch(buf: Buffer): LogBatchLines | MalformedLogBatch {
  try {
    return decode(buf);
  } catch (err) {
    return new MalformedLogBatch(`malformed EntrypointLogBatch: ${err instanceof Malformed ? err.message : String(err)}`);
  }
}

/** The server's request deserializer for EntrypointLogStream: keepalives stay KEEPALIVE. */
export function deserializeLogStreamMessage(buf: Buffer): LogBatchLines | MalformedLogBatch | typeof KEEPALIVE {
  return isInlineKeepalive(buf) ? KEEPALIVE : decodeLogBatch(buf);
}

function decode(buf: Buffer): LogBatchLines {
  const end = buf.length;
  // Pass 1: the instance id, and how many entries (the size of the array).
  let instanceId = '';
  let count = 0;
  pos = 0;
  while (pos < end) {
    const t = tag(buf, end);
    if (t === 0x0a) {
      const e = lengthEnd(buf, end);
      instanceId = buf.toString('utf8', pos, e);
      pos = e;
    } else if (t === 0x12) {
      pos = lengthEnd(buf, end);
      count++;
    } else skip(buf, end, t & 7, t >>> 3, 0);
  }
  // Pass 2: each entry into its row. The structure was checked: only entries remain to check.
  const cols = new Float64Array(count * STRIDE);
  let textBytes = 0;
  let row = 0;
  pos = 0;
  while (pos < end) {
    const t = tag(buf, end);
    if (t !== 0x12) {
      skip(buf, end, t & 7, t >>> 3, 0);
      continue;
    }
    const e = lengthEnd(buf, end);
    textBytes += entry(buf, e, cols, row * STRIDE);
    row++;
  }
  return new LogBatchLines(instanceId, buf, count, cols, textBytes);
}

/** One LogBatch.Entry, [pos, end), into cols[c..c+STRIDE); returns its text's length. */
function entry(buf: Buffer, end: number, cols: Float64Array, c: number): number {
  let start = pos;
  let stop = pos;
  let seconds = NaN;
  let nanos = 0;
  let source = 0;
  while (pos < end) {
    const t = tag(buf, end);
    if (t === 0x0a) {
      // A Timestamp: a second one merges into the first, field by field.
      const e = lengthEnd(buf, end);
      if (Number.isNaN(seconds)) seconds = 0;
      while (pos < e) {
        const u = tag(buf, e);
        if (u === 0x08) seconds = int64(buf, e);
        else if (u === 0x10) nanos = varint(buf, e) | 0;
        else skip(buf, e, u & 7, u >>> 3, 0);
      }
    } else if (t === 0x12) {
      const e = lengthEnd(buf, end);
      start = pos;
      stop = e;
      pos = e;
    } else if (t === 0x18) {
      source = varint(buf, end) | 0;
    } else skip(buf, end, t & 7, t >>> 3, 0);
  }
  if (stop > start && buf[stop - 1] === NEWLINE) stop--;
  // M6: a time no reader can show (seconds past year 9999, nanos out of 0..999 999 999) is as if
  // none came: the line gets its arrival time.
  if (!(seconds >= MIN_SECONDS && seconds <= MAX_SECONDS && nanos >= 0 && nanos <= MAX_NANOS)) {
    seconds = NaN;
    nanos = 0;
  }
  cols[c] = start;
  cols[c + 1] = stop;
  cols[c + 2] = seconds;
  cols[c + 3] = nanos;
  cols[c + 4] = source;
  return stop - start;
}
