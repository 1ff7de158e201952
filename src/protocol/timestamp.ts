// google.protobuf.Timestamp <-> milliseconds since the epoch. With our loader options (longs as
// strings) `seconds` arrives as a string.
import type { Timestamp, Timestamp__Output } from './generated/google/protobuf/Timestamp.js';

export function toTimestamp(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds: String(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function fromTimestamp(ts: Timestamp__Output | null | undefined): number | undefined {
  if (!ts) return undefined;
  return Number(ts.seconds) * 1000 + Math.floor(ts.nanos / 1_000_000);
}
