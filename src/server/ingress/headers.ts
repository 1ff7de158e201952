// Headers as a reverse proxy forwards them: hop-by-hop ones dropped (those of RFC 9110 and any
// the Connection header names, except the ones that frame or route a message), the request's
// framing set by us from what our parser read, and the forwarded headers set by us (a client's
// own kept only when it is a trusted proxy). Raw header lists ([name, value, name, value, ...])
// throughout, so names keep their case and repeated headers stay repeated.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Between replicas only (elsewhere.ts): never an app's, in either direction.
  'x-waypoint-replica-hop',
]);

/**
 * Never dropped because Connection names them (C1): without its Content-Length a body goes to
 * the app unframed and is read there as the next request; without Host the app cannot route.
 */
const NEVER_BY_CONNECTION = new Set(['content-length', 'transfer-encoding', 'host']);

/** Forwarded headers: a client could forge any of them, so only a trusted proxy's are kept. */
const FORWARDED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip']);

/** Names listed in Connection headers (lower case), less those never dropped for it. */
function connectionTokens(raw: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1].split(',')) {
      const name = t.trim().toLowerCase();
      if (name && !NEVER_BY_CONNECTION.has(name)) names.add(name);
    }
  }
  return names;
}

/** The raw list without hop-by-hop headers (and without `also`, lower case names). */
export function endToEnd(raw: readonly string[], also: readonly string[] = []): string[] {
  const drop = new Set([...HOP_BY_HOP, ...connectionTokens(raw), ...also]);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  return out;
}

export interface ClientInfo {
  /** The address the request came from. */
  remoteAddress: string;
  /** The host the request was routed by (its Host, or the authority of an absolute-form target). */
  host: string;
  /** The peer is a configured trusted proxy: its forwarded headers are kept (and appended to). */
  trusted: boolean;
}

/**
 * Sets X-Forwarded-For, -Proto and -Host. From a trusted proxy, X-Forwarded-For is appended to
 * and its -Proto and -Host (and Forwarded, X-Real-IP) are kept; from anyone else every such
 * header is dropped and ours alone go to the app.
 */
export function withForwarded(raw: readonly string[], client: ClientInfo): string[] {
  const out: string[] = [];
  const forwardedFor: string[] = [];
  let proto = false;
  let host = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (FORWARDED.has(name) && !client.trusted) continue;
    if (name === 'x-forwarded-for') {
      forwardedFor.push(raw[i + 1]);
      continue;
    }
    if (name === 'x-forwarded-proto') proto = true;
    if (name === 'x-forwarded-host') host = true;
    out.push(raw[i], raw[i + 1]);
  }
  forwardedFor.push(client.remoteAddress);
  out.push('X-Forwarded-For', forwardedFor.join(', '));
  if (!proto) out.push('X-Forwarded-Proto', 'http');
  if (!host && client.host) out.push('X-Forwarded-Host', client.host);
  return out;
}

/** How the app's leg frames the request body: always said explicitly, never left to a default. */
export type Framing = { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };

/** The raw list with every Host header's value set to `host` (the one routed by). */
function withHost(raw: readonly string[], host: string): string[] {
  const out = [...raw];
  for (let i = 0; i < out.length; i += 2) if (out[i].toLowerCase() === 'host') out[i + 1] = host;
  return out;
}

/**
 * The request headers for the app's HTTP leg. `forwarded` false: for another replica's ingress,
 * which sets the forwarded headers itself from the mark (elsewhere.ts).
 */
export function requestHeaders(raw: readonly string[], client: ClientInfo, framing: Framing, forwarded = true): string[] {
  // Expect: 100-continue was answered by our server already; the body follows regardless.
  // Content-Length and Transfer-Encoding are the client's framing: ours replaces them.
  const kept = endToEnd(withHost(raw, client.host), ['expect', 'content-length']);
  const out = forwarded ? withForwarded(kept, client) : kept;
  if (framing.kind === 'length') out.push('Content-Length', String(framing.length));
  if (framing.kind === 'chunked') out.push('Transfer-Encoding', 'chunked');
  return out;
}

/**
 * The headers of an upgrade request (WebSocket, h2c): end-to-end ones, then Connection (Upgrade
 * and the other headers it named, which the app's side of the upgrade needs, e.g. HTTP2-Settings)
 * and Upgrade. An upgrade carries no body here (see strict.ts), so no framing either.
 */
export function upgradeHeaders(raw: readonly string[], client: ClientInfo, upgrade: string, forwarded = true): string[] {
  const named = [...connectionTokens(raw)].filter((n) => !HOP_BY_HOP.has(n) && n !== 'expect' && !FORWARDED.has(n));
  const drop = new Set([...HOP_BY_HOP, 'expect', 'content-length']);
  const kept: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!drop.has(raw[i].toLowerCase())) kept.push(raw[i], raw[i + 1]);
  const out = forwarded ? withForwarded(withHost(kept, client.host), client) : withHost(kept, client.host);
  out.push('Connection', ['Upgrade', ...named].join(', '), 'Upgrade', upgrade);
  return out;
}

/** The client's address for X-Forwarded-For: IPv4-mapped IPv6 addresses as plain IPv4. */
export function clientAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
