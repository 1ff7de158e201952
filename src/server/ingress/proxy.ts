// One HTTP request through the ingress: routed by Host, carried on a tunnel connection to one of
// the deployment's instances (round robin, skipping those at their limit), the app's HTTP leg
// spoken by Node's own client over that connection (http.request with createConnection), both
// bodies streamed with pipe. An instance that cannot reach its app before anything was sent is
// skipped and the request goes to the next; one whose connection breaks before the response
// head gets the request again elsewhere only when it is idempotent and has no body. Failures
// answer one plain-text line naming the app: 502 app not answering, 503 no instance or all
// busy, 504 no response head in time; each is logged once.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ServerLog } from '../log.js';
import type { Store } from '../store.js';
import type { TunnelBroker, TunnelEndpoint } from '../tunnel/broker.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { TunnelError } from '../tunnel/connection.js';
import type { UrlSettings } from '../tunnel/urls.js';
import { clientAddress, type ClientInfo, endToEnd, requestHeaders } from './headers.js';
import { route } from './route.js';

export interface IngressContext {
  broker: TunnelBroker;
  store: Store;
  settings: UrlSettings;
  log: ServerLog;
}

/** Requests that may be sent again when they have no body (RFC 9110 idempotent methods). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE', 'PUT']);
/** After the response is complete, how long the app may take to close its side. */
const CLOSE_GRACE_MS = 5_000;

export type Failure = { status: number; message: string; headers?: Record<string, string> };

/** The app's limit message, shared with upgrades. */
export function busy(app: string, max: number): Failure {
  return { status: 503, message: `every instance of app ${app} is at its limit of ${max} concurrent requests`, headers: { 'Retry-After': '1' } };
}

export function noInstance(app: string): Failure {
  return { status: 503, message: `no instance of app ${app} is connected with its tunnel` };
}

export function notAnswering(app: string, why: string): Failure {
  return { status: 502, message: `app ${app} is not answering: ${why}` };
}

export function timedOut(app: string, ms: number): Failure {
  return { status: 504, message: `app ${app} sent no response within ${ms / 1000} s` };
}

export function handleRequest(ctx: IngressContext, req: IncomingMessage, res: ServerResponse): void {
  new ProxiedRequest(ctx, req, res).start();
}

class ProxiedRequest {
  private readonly client: ClientInfo;
  private readonly aborter = new AbortController();
  private readonly tried = new Set<TunnelEndpoint>();
  private readonly hasBody: boolean;
  private timer?: NodeJS.Timeout;
  /** The attempt in flight: its tunnel and HTTP leg, destroyed when the request is given up. */
  private current?: { tunnel: TunnelConnection; leg?: http.ClientRequest };
  /** Answered with an error, timed out, or the client left: nothing more to do. */
  private over = false;
  private app = '';

  constructor(
    private readonly ctx: IngressContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.client = { remoteAddress: clientAddress(req.socket.remoteAddress), host: req.headers.host ?? '' };
    const length = req.headers['content-length'];
    this.hasBody = (length !== undefined && length !== '0') || req.headers['transfer-encoding'] !== undefined;
  }

  start(): void {
    const { settings } = this.ctx;
    const r = route(this.req.headers.host, { ...this.ctx, domain: settings.domain, port: settings.port });
    if (!r.ok) return this.fail({ status: r.status, message: r.message });
    this.app = r.app;
    this.timer = setTimeout(() => this.fail(timedOut(this.app, settings.requestTimeoutMs)), settings.requestTimeoutMs);
    this.res.on('close', () => {
      if (this.res.writableFinished) return;
      // The client went away (or the response broke): tear down whatever is in flight.
      this.over = true;
      this.finish();
    });
    void this.next(r.deploymentId, undefined);
  }

  /** Tries the next endpoint of the deployment; `lastFailure` says why the previous one did not do. */
  private async next(deploymentId: string, lastFailure: string | undefined): Promise<void> {
    if (this.over) return;
    const pick = this.ctx.broker.pick(deploymentId, this.tried);
    if (pick.kind === 'busy') return this.fail(busy(this.app, this.ctx.settings.maxConcurrent));
    if (pick.kind === 'none') return this.fail(lastFailure ? notAnswering(this.app, lastFailure) : noInstance(this.app));
    const endpoint = pick.endpoint;
    this.tried.add(endpoint);
    endpoint.inFlight++;
    let tunnel: TunnelConnection;
    try {
      tunnel = await this.ctx.broker.open(endpoint, { signal: this.aborter.signal });
    } catch (err) {
      endpoint.inFlight--;
      const e = err as TunnelError;
      if (e.beforeConnect) return this.next(deploymentId, e.message);
      return this.fail(notAnswering(this.app, e.message));
    }
    tunnel.once('close', () => endpoint.inFlight--);
    if (this.over) {
      tunnel.destroy(new Error('the request was given up'));
      return;
    }
    this.forward(tunnel, deploymentId);
  }

  /** The HTTP leg over one tunnel connection. */
  private forward(tunnel: TunnelConnection, deploymentId: string): void {
    const { req, res } = this;
    const chunked = req.headers['transfer-encoding'] !== undefined && req.headers['content-length'] === undefined;
    const leg = http.request({
      createConnection: () => tunnel,
      method: req.method,
      path: req.url,
      headers: requestHeaders(req.rawHeaders, this.client, chunked),
      setHost: false,
    });
    this.current = { tunnel, leg };
    leg.on('response', (answer) => {
      clearTimeout(this.timer);
      if (this.over) return;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders));
      answer.pipe(res);
      // A body cut short by the app (or the tunnel) cannot be finished: cut ours too.
      answer.on('aborted', () => res.destroy());
      answer.on('error', () => res.destroy());
      answer.on('end', () => {
        // The app should close its side now (Connection: close); if it does not, we do.
        setTimeout(() => tunnel.destroy(), CLOSE_GRACE_MS).unref();
      });
    });
    leg.on('error', (err) => {
      if (this.over) return; // given up already (and answered, if it could be)
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const why = err instanceof TunnelError ? err.message : `the connection to it broke (${err.message})`;
      this.current = undefined;
      tunnel.destroy();
      if (IDEMPOTENT.has(req.method ?? '') && !this.hasBody) void this.next(deploymentId, why);
      else this.fail(notAnswering(this.app, why));
    });
    if (this.hasBody) req.pipe(leg);
    else leg.end();
  }

  /** Answers with an error (when nothing was sent yet), logs it, and ends what is in flight. */
  private fail(f: Failure): void {
    if (this.over) return;
    this.over = true;
    this.finish();
    const { req, res } = this;
    // A 404 is a stranger's guess (scanners), not a problem of an app: not worth a warning.
    this.ctx.log[f.status === 404 ? 'debug' : 'warn']('URL request failed', {
      status: f.status,
      method: req.method,
      host: req.headers.host ?? '',
      path: (req.url ?? '').split('?')[0],
      reason: f.message,
    });
    if (res.headersSent) {
      res.destroy();
      return;
    }
    reply(res, f);
  }

  private finish(): void {
    clearTimeout(this.timer);
    this.aborter.abort();
    if (this.current) {
      this.current.leg?.destroy();
      this.current.tunnel.destroy(new Error('the request was given up'));
      this.current = undefined;
    }
  }
}

/** A one-line plain-text answer; the connection closes when a request body is still coming. */
export function reply(res: ServerResponse, f: Failure): void {
  const body = `${f.message}\n`;
  res.writeHead(f.status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    ...f.headers,
  });
  res.end(body);
}
