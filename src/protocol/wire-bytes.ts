// The few protobuf encoding pieces our hand encoders share (log batches, exec output, tunnel
// data): they write the app's bytes straight into the message, where protobufjs would build an
// object per chunk first.

export function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    len++;
  }
  return len;
}

/** Writes a non-negative integer (< 2^53) as a varint at `pos`; returns the position after it. */
export function writeVarint(buf: Buffer, pos: number, n: number): number {
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 0x80);
  }
  buf[pos++] = n;
  return pos;
}

/** `data` cut into views of at most `max` bytes (no copy): no message gets huge. */
export function splitChunks(data: Buffer, max: number): Buffer[] {
  if (data.length <= max) return [data];
  const pieces: Buffer[] = [];
  for (let at = 0; at < data.length; at += max) pieces.push(data.subarray(at, at + max));
  return pieces;
}

/**
 * Reads a varint at `pos` (at most 7 bytes: values below 2^49, far above any message length).
 * Returns the value and the position after it, or undefined when it is truncated or too long.
 */
export function readVarint(buf: Buffer, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 7 && pos + i < buf.length; i++) {
    const b = buf[pos + i];
    value += (b & 0x7f) * scale;
    if (b < 0x80) return { value, next: pos + i + 1 };
    scale *= 0x80;
  }
  return undefined;
}

/** Output's fields, in exec's messages on either call: channel (1, varint) and data (2, bytes). */
const TAG_CHANNEL = (1 << 3) | 0;
const TAG_DATA = (2 << 3) | 2;
const EMPTY = Buffer.alloc(0);

/**
 * An exec output message read by hand: `buf` must be exactly one length-delimited field `tag`
 * holding {channel 1 or 2, data}, each at most once, nothing else. Returns the channel and a view
 * of the data, or undefined for any other shape (protobufjs then says what it means).
 */
export function readOutput(buf: Buffer, tag: number): { channel: 1 | 2; data: Buffer } | undefined {
  if (buf.length < 2 || buf[0] !== tag) return undefined;
  const len = readVarint(buf, 1);
  if (!len || len.next + len.value !== buf.length) return undefined;
  let pos = len.next;
  let channel = -1;
  let data: Buffer | undefined;
  while (pos < buf.length) {
    const field = buf[pos++];
    const v = readVarint(buf, pos);
    if (!v) return undefined;
    if (field === TAG_CHANNEL && channel < 0) {
      channel = v.value;
      pos = v.next;
    } else if (field === TAG_DATA && !data && v.next + v.value <= buf.length) {
      data = buf.subarray(v.next, v.next + v.value);
      pos = v.next + v.value;
    } else {
      return undefined; // a field repeated, unknown or cut short
    }
  }
  return channel === 1 || channel === 2 ? { channel, data: data ?? EMPTY } : undefined;
}
