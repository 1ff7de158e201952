// The conventions of Waypoint's server and entrypoint around the messages: metadata names,
// protocol versions and their negotiation, token extraction.

/** Our protocol ranges; Waypoint's entrypoint protocol today is min 1, current 1. */
export const PROTOCOL_VERSIONS = {
  api: { minimum: 1, current: 1 },
  entrypoint: { minimum: 1, current: 1 },
} as const;

export const METADATA = {
  /** The token, in both headers, on every call. */
  authorization: 'authorization',
  waypointToken: 'waypoint-token',
  /** "min,current" of the client's API and entrypoint protocols, and its version. */
  apiProtocol: 'client-api-protocol',
  entrypointProtocol: 'client-entrypoint-protocol',
  version: 'client-version',
  /** A client that can drop inline keepalives asks for them with "true". */
  inlineKeepalives: 'wp-inline-keepalives',
} as const;

export interface ProtocolRange {
  minimum: number;
  current: number;
}

/** "min,current", as the version metadata carries it. */
export function formatRange(range: ProtocolRange): string {
  return `${range.minimum},${range.current}`;
}

export function parseRange(text: string | undefined): ProtocolRange | undefined {
  const m = /^\s*(\d+)\s*,\s*(\d+)\s*$/.exec(text ?? '');
  if (!m) return undefined;
  const range = { minimum: Number(m[1]), current: Number(m[2]) };
  return range.minimum <= range.current ? range : undefined;
}

/**
 * Waypoint's negotiation: the two ranges must overlap; the version spoken is the lower of the
 * two currents. Undefined when they do not overlap.
 */
export function negotiate(ours: ProtocolRange, theirs: ProtocolRange): number | undefined {
  if (theirs.current < ours.minimum || ours.current < theirs.minimum) return undefined;
  return Math.min(ours.current, theirs.current);
}

/** The client asked for inline keepalives on its streams ("true" in wp-inline-keepalives, any case). */
export function wantsInlineKeepalives(metadata: { get(key: string): unknown[] }): boolean {
  return String(metadata.get(METADATA.inlineKeepalives)[0] ?? '').toLowerCase() === 'true';
}

/** The token of a call: `authorization` (an optional "Bearer " prefix dropped) or `waypoint-token`. */
export function tokenOf(get: (key: string) => unknown[]): string | undefined {
  for (const key of [METADATA.authorization, METADATA.waypointToken]) {
    const value = get(key)[0];
    if (typeof value === 'string' && value.trim() !== '') return value.trim().replace(/^bearer\s+/i, '');
  }
  return undefined;
}
