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
