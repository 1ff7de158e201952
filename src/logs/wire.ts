// EntrypointLogBatch encoded by hand, straight from the app's bytes into the message: at a
// million lines a second, building an object per line for protobufjs to encode would cost more
// than everything else on the path. The encoding is plain protobuf (DESIGN.md section 4):
//   EntrypointLogBatch { 1: instance_id string; 2: lines repeated LogBatch.Entry }
//   LogBatch.Entry     { 1: timestamp Timestamp; 2: line string; 3: source enum (APP=0 omitted) }
//   Timestamp          { 1: seconds int64; 2: nanos int32 }
// test/unit/logs/logs.test.ts decodes the result with the real descriptor.

import { varintLength, writeVarint } from '../protocol/wire-bytes.js';

export const Source = { APP: 0, ENTRYPOINT: 1 } as const;
export type Source = (typeof Source)[keyof typeof Source];

const TAG_FIELD1_LEN = 0x0a; // field 1, length-delimited
const TAG_FIELD2_LEN = 0x12; // field 2, length-delimited
const TAG_FIELD1_VARINT = 0x08;
const TAG_FIELD2_VARINT = 0x10;
const TAG_FIELD3_VARINT = 0x18;


/** Field 1 of an Entry (tag, length, Timestamp) for a time in ms since the epoch. */
export function timestampField(ms: number): Buffer {
  const seconds = Math.floor(ms / 1000);
  const nanos = Math.round((ms - seconds * 1000) * 1e6);
  const inner = 1 + varintLength(seconds) + (nanos > 0 ? 1 + varintLength(nanos) : 0);
  const buf = Buffer.allocUnsafe(2 + inner);
  buf[0] = TAG_FIELD1_LEN;
  buf[1] = inner; // < 128: one byte
  let pos = 2;
  buf[pos++] = TAG_FIELD1_VARINT;
  pos = writeVarint(buf, pos, seconds);
  if (nanos > 0) {
    buf[pos++] = TAG_FIELD2_VARINT;
    pos = writeVarint(buf, pos, nanos);
  }
  return buf.subarray(0, pos);
}

/** Field 1 of the batch: the instance id. */
export function instanceIdField(instanceId: string): Buffer {
  const id = Buffer.from(instanceId, 'utf8');
  const buf = Buffer.allocUnsafe(1 + varintLength(id.length) + id.length);
  const pos = writeVarint(buf, 1, id.length);
  buf[0] = TAG_FIELD1_LEN;
  id.copy(buf, pos);
  return buf;
}

/** Bytes an entry takes in the batch, its field-2 tag and length included. */
export function entrySize(timestamp: Buffer, lineLength: number, source: Source): number {
  const body = timestamp.length + 1 + varintLength(lineLength) + lineLength + (source === Source.APP ? 0 : 2);
  return 1 + varintLength(body) + body;
}

/** Writes one entry (line = line[start, end)) at `pos`; returns the position after it. */
export function writeEntry(
  buf: Buffer,
  pos: number,
  timestamp: Buffer,
  line: Buffer,
  start: number,
  end: number,
  source: Source,
): number {
  const lineLength = end - start;
  const body = timestamp.length + 1 + varintLength(lineLength) + lineLength + (source === Source.APP ? 0 : 2);
  buf[pos++] = TAG_FIELD2_LEN;
  pos = writeVarint(buf, pos, body);
  pos += timestamp.copy(buf, pos);
  buf[pos++] = TAG_FIELD2_LEN;
  pos = writeVarint(buf, pos, lineLength);
  pos += line.copy(buf, pos, start, end);
  if (source !== Source.APP) {
    buf[pos++] = TAG_FIELD3_VARINT;
    buf[pos++] = source;
  }
  return pos;
}
