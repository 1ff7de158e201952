// server/ingress/ owns the HTTP side of URLs: the listener in front of the tunnels, held to
// strict requests and limits so that it cannot take down the gRPC port beside it.
//
// The HTTP ingress of the URL service: a plain HTTP/1.1 server whose requests and upgrades go
// through the tunnels (proxy.ts, upgrade.ts). It binds before the URL service exists (URLs
// carry its port) and takes requests once `serve` hands it the context.
//
// It guards the process it shares with the gRPC listener (H4): a request head must arrive
// within the header timeout (408), an idle kept-alive connection goes after the keep-alive
// timeout, and connections are limited in total (at most a share of the open-file limit,
// fd-budget.ts) and per client address (trusted proxies aside). Requests themselves have no
// overall timeout: long uploads and streamed responses are the app's business.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { formatPeer, type ListenAddress } from '../../rules/listen.js';
import type { ServerLog } from '../log.js';
import { clientAddress } from './headers.js';
import { handleRequest, type IngressContext } from './proxy.js';
import type { TrustedProxies } from './trusted.js';
import { handleUpgrade } from './upgrade.js';

export class IngressError extends Error {}

/** What else answers on this listener: the web console, for the hosts it wants (server/console/). */
export interface IngressTenant {
  wants(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): void;
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void;
}

export interface Ingress {
  port: number;
  /** Requests go to `console` when it wants them (by Host), else to the apps' tunnels. */
  serve(ctx: IngressContext, console?: IngressTenant): void;
  /** Stops accepting, and cuts every connection (tunnels are ending anyway). */
  close(): Promise<void>;
}

export interface IngressLimits {
  /** From a connection's start (or its previous response) to a complete request head. */
  headerTimeoutMs: number;
  /** How long an idle kept-alive client connection waits for its next request. */
  keepAliveTimeoutMs: number;
  /** Client connections open at once, in all (already within the open-file budget). */
  maxConnections: number;
  /** Client connections open at once from one address; trusted proxies are not held to it. */
  maxConnectionsPerClient: number;
  trusted: TrustedProxies;
  /** The other replicas (their forwarded requests): not held to the per-client limit either. */
  peers?: { has(address: string | undefined): boolean };
}

/** Node's own limit on a request head, said here: more is answered 431. */
const MAX_HEADER_BYTES = 16 * 1024;

export async function listenIngress(listen: ListenAddress, limits: IngressLimits, log: ServerLog, records = false): Promise<Ingress> {
  const server = http.createServer({
    requestTimeout: 0,
    // Explicit: with requestTimeout 0, Node's default would be 0 too, and a silent connection stays forever.
    headersTimeout: limits.headerTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // How often Node looks for connections past the header timeout (its default is 30 s).
    connectionsCheckingInterval: Math.max(10, Math.min(1_000, Math.floor(limits.headerTimeoutMs / 4))),
    maxHeaderSize: MAX_HEADER_BYTES,
    insecureHTTPParser: false,
    requireHostHeader: true,
  });
  server.maxConnections = limits.maxConnections;
  const sockets = new Set<Socket>();
  const perClient = new PerClientLimit(limits, log);
  server.on('connection', (s: Socket) => {
    if (!perClient.admit(s)) return void s.destroy();
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => answerClientError(err, socket));
  const host = listen.host.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new IngressError(
          err.code === 'EADDRINUSE'
            ? `cannot listen on ${listen.bind} for HTTP: the address is in use; pass another --http-listen (or off)`
            : `cannot listen on ${listen.bind} for HTTP: ${err.message}`,
        ),
      );
    });
    server.listen(listen.port, host, () => resolve());
  });
  // After the listen: a later error (EMFILE on accept) is logged, never thrown.
  server.on('error', (err) => log.warn('HTTP ingress error', { error: err.message }));
  return {
    port: (server.address() as AddressInfo).port,
    serve(ctx, console) {
      // Nothing a client sends may end the server: an unexpected error ends that request alone.
      const unexpected = (socket: { destroy(): void }, err: unknown) => {
        log.error('HTTP ingress: a request failed unexpectedly; its connection was closed', { error: (err as Error)?.message ?? String(err) });
        socket.destroy();
      };
      server.on('request', (req, res) => {
        if (records) recordRequest(log, req, res);
        try {
          if (console?.wants(req)) console.handle(req, res);
          else handleRequest(ctx, req, res);
        } catch (err) {
          unexpected(req.socket, err);
        }
      });
      server.on('upgrade', (req, socket: Socket, head: Buffer) => {
        if (console?.wants(req)) {
          try {
            return console.upgrade(req, socket, head);
          } catch (err) {
            return unexpected(socket, err);
          }
        }
        handleUpgrade(ctx, req, socket, head).catch((err: unknown) => unexpected(socket, err));
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

/**
 * At debug: one record per request when its response is done (or its connection gone). The
 * path without its query, which may carry what is not ours to log.
 */
function recordRequest(log: ServerLog, req: IncomingMessage, res: ServerResponse): void {
  const started = performance.now();
  res.once('close', () => {
    log.debug('http', {
      event: 'http',
      method: req.method,
      host: req.headers.host ?? '',
      path: (req.url ?? '').split('?')[0],
      status: res.statusCode,
      complete: res.writableFinished,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      peer: formatPeer(`${req.socket.remoteAddress}:${req.socket.remotePort}`),
    });
  });
}

/** Between two warnings about one client at its limit: a flood must not flood the log too. */
const WARN_EVERY_MS = 60_000;

/** Counts open connections per client address; a client at its limit is warned of at most once a minute. */
class PerClientLimit {
  private readonly open = new Map<string, number>();
  private readonly warned = new Map<string, number>();

  constructor(
    private readonly limits: IngressLimits,
    private readonly log: ServerLog,
  ) {}

  admit(s: Socket): boolean {
    if (this.limits.trusted.has(s.remoteAddress) || this.limits.peers?.has(s.remoteAddress)) return true;
    const address = clientAddress(s.remoteAddress);
    const n = this.open.get(address) ?? 0;
    if (n >= this.limits.maxConnectionsPerClient) {
      const now = Date.now();
      if (now - (this.warned.get(address) ?? -Infinity) >= WARN_EVERY_MS) {
        if (this.warned.size >= 10_000) this.warned.clear(); // bounded, whatever the number of addresses
        this.warned.set(address, now);
        this.log.warn('HTTP ingress: connections refused for a client at its limit (--url-max-connections-per-client)', {
          client: address,
          limit: this.limits.maxConnectionsPerClient,
        });
      }
      return false;
    }
    this.open.set(address, n + 1);
    s.once('close', () => {
      const left = (this.open.get(address) ?? 1) - 1;
      if (left > 0) this.open.set(address, left);
      else this.open.delete(address);
    });
    return true;
  }
}

/** A request Node's parser refused, or a head not complete in time: one line, then the connection goes. */
function answerClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  // A response already under way on it cannot be followed by another.
  const inProgress = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent;
  if (err.code === 'ECONNRESET' || !socket.writable || inProgress) return void socket.destroy();
  const [status, reason, text] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request Header Fields Too Large', `request headers over ${MAX_HEADER_BYTES} bytes`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request Timeout', 'no complete request head in time']
        : [400, 'Bad Request', 'malformed request'];
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
    () => socket.destroy(),
  );
  // A client that does not read keeps the answer in the buffer: its descriptor goes anyway.
  setTimeout(() => socket.destroy(), 2_000).unref();
}
