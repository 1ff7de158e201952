// Kept-alive tunnel connections of one endpoint: an http.Agent whose sockets are tunnel
// connections, opened on demand through the broker (createConnection's callback form), so that
// one Connect stream (one TCP connection to the app) carries many requests in turn instead of
// paying a stream, a TCP connect and their round trips for each.
//
// The pool only holds connections; it limits nothing (the broker's per-instance limit counts
// requests in flight). An idle connection goes after IDLE_TIMEOUT_MS (shorter than Node's
// default server keepAliveTimeout of 5 s, so that we, not the app, usually close it), or at once
// when the app or the tunnel closes it. An instance that goes away takes its idle connections
// with it, and those in use are not kept after their request.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { TunnelConnection } from './connection.js';

/** How long an idle connection is kept for another request. */
export const IDLE_TIMEOUT_MS = 4_000;

export interface PoolOptions {
  /** Opens a tunnel connection to the endpoint's app (rejects with a TunnelError). */
  open(signal: AbortSignal | undefined): Promise<TunnelConnection>;
  /** At most this many idle connections are kept. */
  maxIdle: number;
}

/** What http.request passes on to createConnection: our request's abort signal among them. */
export interface TunnelRequestOptions extends http.RequestOptions {
  tunnelSignal?: AbortSignal;
}

/**
 * Connections whose request framing could be in doubt: closed after their request, never kept.
 * keepSocketAlive is the only way back to a request (maxSockets is Infinity: none ever waits in
 * the Agent for a freed socket, the one path that would skip it).
 */
const retired = new WeakSet<object>();

/** The connection must not carry another request (see keepSocketAlive). */
export function neverReuse(socket: object): void {
  retired.add(socket);
}

/** The requests given a connection that was already closed (nothing of them reached the app). */
const stale = new WeakSet<http.ClientRequest>();

/** The request was handed a pooled connection that had closed meanwhile: nothing was sent. */
export function gotStaleConnection(req: http.ClientRequest): boolean {
  return stale.has(req);
}

export class TunnelPool extends http.Agent {
  private closed = false;

  constructor(private readonly pool: PoolOptions) {
    super({
      keepAlive: true,
      timeout: IDLE_TIMEOUT_MS,
      // The broker's limit applies before a request gets here: never queue inside the Agent.
      maxSockets: Infinity,
      maxFreeSockets: pool.maxIdle,
      scheduling: 'lifo',
    });
  }

  override createConnection(options: TunnelRequestOptions, callback: (err: Error | null, socket?: Duplex) => void): undefined {
    this.pool.open(options.tunnelSignal).then(
      (tunnel) => callback(null, tunnel),
      (err: Error) => callback(err),
    );
    return undefined;
  }

  override keepSocketAlive(socket: Duplex): boolean {
    const tunnel = socket as TunnelConnection;
    if (this.closed || retired.has(tunnel) || tunnel.destroyed || !tunnel.readable || !tunnel.writable) return false;
    // Node's own checks (an app's Keep-Alive timeout hint shorter than ours), then the timer.
    const kept: unknown = super.keepSocketAlive(socket);
    if (!kept) return false;
    tunnel.setIdle(true);
    return true;
  }

  override reuseSocket(socket: Duplex, req: http.ClientRequest): void {
    const tunnel = socket as TunnelConnection;
    super.reuseSocket(socket, req);
    if (tunnel.destroyed) stale.add(req);
    tunnel.setIdle(false);
    // The idle timeout is for the pool only: a slow response is the request timeout's business.
    tunnel.setTimeout(0);
  }

  /** The endpoint is gone: idle connections close now, busy ones after their request. */
  close(): void {
    this.closed = true;
    for (const list of Object.values(this.freeSockets)) for (const s of list ?? []) s.destroy();
  }
}
