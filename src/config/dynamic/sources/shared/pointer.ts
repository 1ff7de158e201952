// RFC 6901 JSON pointers, as Waypoint's Vault source reads a variable's `key` out of a secret's
// `data`: `/data/password` (KV v2), `password` (a bare name, taken as `/password` like Waypoint
// does), `/servers/0/host` (an array index).

export class PointerError extends Error {}

/** The reference tokens of `pointer`; a key without a leading `/` is one name, as in Waypoint. */
export function parsePointer(pointer: string): string[] {
  const text = pointer.startsWith('/') ? pointer : `/${pointer}`;
  return text
    .slice(1)
    .split('/')
    .map((token) => {
      if (/~(?![01])/.test(token)) throw new PointerError(`invalid JSON pointer ${JSON.stringify(pointer)}: "~" must be followed by 0 or 1`);
      // ~1 first, then ~0, so that "~01" is "~1" and not "/" (RFC 6901 section 4)
      return token.replace(/~1/g, '/').replace(/~0/g, '~');
    });
}

export type PointerResult = { found: true; value: unknown } | { found: false; missing: string };

/** Follows `tokens` into `doc`; `missing` is the pointer prefix that has nothing behind it. */
export function getPointer(doc: unknown, tokens: readonly string[]): PointerResult {
  let at: unknown = doc;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i];
    const next = step(at, token);
    if (next === undefined) return { found: false, missing: formatPointer(tokens.slice(0, i + 1)) };
    at = next.value;
  }
  return { found: true, value: at };
}

function step(at: unknown, token: string): { value: unknown } | undefined {
  if (Array.isArray(at)) {
    // An array index is digits without a leading zero; "-" (past the end) never exists
    if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
    const index = Number(token);
    return index < at.length ? { value: at[index] } : undefined;
  }
  if (at !== null && typeof at === 'object' && Object.hasOwn(at, token)) {
    return { value: (at as Record<string, unknown>)[token] };
  }
  return undefined;
}

export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** A value as an environment variable holds it: strings as they are, anything else as JSON
 * (a nested object becomes its JSON text, null the empty string). */
export function valueString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || value === undefined) return '';
  return JSON.stringify(value);
}
