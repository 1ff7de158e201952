// Log lines are protobuf strings: valid UTF-8 on the wire, whatever the app wrote. Invalid bytes
// become U+FFFD, as a UTF-8 decoder replaces them. Cuts (a 64 KiB piece, a timed flush) are
// made between characters, so that a valid text is never damaged by where we cut it.
import { isUtf8 } from 'node:buffer';

/** The bytes as they are when valid UTF-8, else a copy with invalid sequences replaced. */
export function validUtf8(bytes: Buffer): Buffer {
  return isUtf8(bytes) ? bytes : Buffer.from(bytes.toString('utf8'), 'utf8');
}

export { isUtf8 };

/** How many bytes a sequence with this lead byte has (1 for ASCII and for invalid leads). */
function sequenceLength(lead: number): number {
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  return 1;
}

/**
 * The largest cut point ≤ `end` (and > `start` when possible) that does not split the last
 * character of buf[start, end) in two: a sequence started but not finished before `end` is
 * left out. Invalid bytes count as whole characters.
 */
export function utf8Boundary(buf: Buffer, start: number, end: number): number {
  // Walk back over at most 3 continuation bytes to the last lead byte.
  let i = end - 1;
  const stop = Math.max(start, end - 4);
  while (i >= stop && (buf[i] & 0xc0) === 0x80) i--;
  if (i < stop) return end; // only continuation bytes: invalid anyway, cut anywhere
  return i + sequenceLength(buf[i]) > end ? i : end;
}
