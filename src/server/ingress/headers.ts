// Headers as a reverse proxy forwards them: hop-by-hop ones dropped (those of RFC 9110 and any
// the Connection header names), X-Forwarded-For appended to, X-Forwarded-Proto and -Host added
// when a proxy in front has not set them. Raw header lists ([name, value, name, value, ...])
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
]);

/** Names listed in Connection headers (lower case). */
function connectionTokens(raw: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1].split(',')) if (t.trim()) names.add(t.trim().toLowerCase());
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
  /** The Host header as the client sent it. */
  host: string;
}

/** Adds X-Forwarded-For (appended to one a proxy in front set), -Proto and -Host. */
export function withForwarded(raw: readonly string[], client: ClientInfo): string[] {
  const out: string[] = [];
  const forwardedFor: string[] = [];
  let proto = false;
  let host = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
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

/** The request headers for the app's HTTP leg. */
export function requestHeaders(raw: readonly string[], client: ClientInfo, chunkedBody: boolean): string[] {
  // Expect: 100-continue was answered by our server already; the body follows regardless.
  const out = withForwarded(endToEnd(raw, ['expect']), client);
  if (chunkedBody) out.push('Transfer-Encoding', 'chunked');
  return out;
}

/** The raw head of an upgrade request (WebSocket), as the app must receive it: every header kept. */
export function upgradeHead(method: string, url: string, httpVersion: string, raw: readonly string[], client: ClientInfo): Buffer {
  const headers = withForwarded(raw, client);
  let text = `${method} ${url} HTTP/${httpVersion}\r\n`;
  for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** The client's address for X-Forwarded-For: IPv4-mapped IPv6 addresses as plain IPv4. */
export function clientAddress(address: string | undefined): string {
  if (!address) return 'unknown';
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
