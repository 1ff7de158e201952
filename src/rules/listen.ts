// Listen addresses: host:port, [ipv6]:port, or :port for every interface; port 0 picks a free one.

export const DEFAULT_LISTEN = '127.0.0.1:9701';

export interface ListenAddress {
  /** As gRPC binds it: host:port, IPv6 in brackets. */
  bind: string;
  host: string;
  port: number;
}

export class ListenError extends Error {}

export function parseListen(text: string): ListenAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]*):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new ListenError(`invalid listen address ${JSON.stringify(text)}: expected host:port, such as 127.0.0.1:9701, [::1]:9701 or :9701`);
  }
  const host = m[1] === '' ? '0.0.0.0' : m[1];
  return { bind: `${host}:${port}`, host, port };
}

/** An address others dial (--advertise): host:port with a real host and port, never 0 or "every interface". */
export function parseAdvertise(text: string): string {
  let a: ListenAddress;
  try {
    a = parseListen(text);
  } catch {
    throw new ListenError(`invalid --advertise ${JSON.stringify(text)}: expected host:port, such as 10.0.0.5:9701`);
  }
  if (a.port === 0 || a.host === '0.0.0.0' || a.host === '[::]') {
    throw new ListenError(`invalid --advertise ${JSON.stringify(text)}: give the host:port other replicas reach this one at, such as 10.0.0.5:9701`);
  }
  return a.bind;
}

export function formatAddress(host: string, port: number): string {
  return `${host}:${port}`;
}

/** Where a client on this machine reaches a server listening on `host`. */
export function localAddress(host: string, port: number): string {
  if (host === '0.0.0.0') return `127.0.0.1:${port}`;
  if (host === '[::]') return `[::1]:${port}`;
  return formatAddress(host, port);
}

/** grpc-js gives a peer as `${address}:${port}`: put an IPv6 address in brackets. */
export function formatPeer(peer: string): string {
  const i = peer.lastIndexOf(':');
  if (i < 0) return peer;
  const host = peer.slice(0, i);
  return host.includes(':') && !host.startsWith('[') ? `[${host}]${peer.slice(i)}` : peer;
}

/** Whether only this machine can reach `host` (as parseListen gives it): 127/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  if (bare.toLowerCase() === 'localhost' || bare === '::1') return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(bare);
}
