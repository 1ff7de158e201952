// Identifiers in ULID form (time-ordered, 26 Crockford base32 characters), as Waypoint uses for
// deployments and instances: sortable by creation, unique without coordination. Ids made in the
// same millisecond by this process still sort in the order they were made (ULID's monotonic
// mode: the random part of the last one plus one), because the stores list tokens, deployments
// and instances by id as their order of creation.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const RANDOM_DIGITS = 16;

let last: { time: number; random: number[] } | undefined;

export function ulid(now = Date.now()): string {
  const random = last && now === last.time ? incremented(last.random) : fresh();
  last = { time: now, random };
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = ALPHABET[t % 32] + time;
    t = Math.floor(t / 32);
  }
  return time + random.map((d) => ALPHABET[d]).join('');
}

function fresh(): number[] {
  const bytes = randomBytes(RANDOM_DIGITS);
  // The top bit of the first digit stays clear: 2^79 increments before a carry could reach it.
  return Array.from(bytes, (b, i) => (i === 0 ? b % 16 : b % 32));
}

/** `digits` + 1 in base 32. */
export function incremented(digits: readonly number[]): number[] {
  const next = [...digits];
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 31) {
      next[i]!++;
      return next;
    }
    next[i] = 0;
  }
  return next; // all 31s: wraps, as it never will in practice (see fresh)
}
