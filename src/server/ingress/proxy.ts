// One HTTP request through the ingress: checked (strict.ts: one Host, the target, the framing;
// the app's leg gets the framing our parser read, set by us, never the client's headers),
// routed by its host, and carried to one of the deployment's instances (round robin per
// request, skipping those at their limit of requests in flight) by
// Node's own HTTP client, over a kept-alive tunnel connection of that instance's pool (pool.ts)
// or a new one, both bodies streamed with pipe. An instance that cannot reach its app before
// anything was sent is skipped and the request goes to the next; one whose connection breaks
// before the response head gets the request again only when it is idempotent and has no body
// (elsewhere, or on the same instance when the connection was a reused one: the app may have
// closed it just as we sent, the keep-alive race). Failures answer one plain-text line naming
// the app: 502 app not answering, 503 no instance or all busy, 504 no response head in time;
// each is logged once.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { ServerLog } from '../log.js';
import type { Store } from '../store/store.js';
import type { TunnelBroker, TunnelEndpoint } from '../tunnel/broker.js';
import { TunnelError } from '../tunnel/connection.js';
import { gotStaleConnection, neverReuse, type TunnelRequestOptions } from '../tunnel/pool.js';
import type { UrlSettings } from '../tunnel/urls.js';
import { type ForwardTarget, HOP_HEADER, type ReplicaIngress } from './elsewhere.js';
import { clientAddress, type ClientInfo, endToEnd, type Framing, requestHeaders } from './headers.js';
import { route } from './route.js';
import { type CheckedRequest, checkRequest } from './strict.js';

export interface IngressContext {
  broker: TunnelBroker;
  store: Store;
  settings: UrlSettings;
  log: ServerLog;
  /** The other replicas' tunnels (undefined on one server): where a request goes when none is here. */
  elsewhere?: ReplicaIngress;
}

/** The client as this replica takes it: the one another replica saw, when it forwarded the request. */
export function clientOf(ctx: IngressContext, req: IncomingMessage, host: string): { client: ClientInfo; forwarded: boolean } {
  const hop = ctx.elsewhere?.verify(req);
  if (hop) return { client: { remoteAddress: hop.remoteAddress, host, trusted: hop.trusted }, forwarded: true };
  return { client: { remoteAddress: clientAddress(req.socket.remoteAddress), host, trusted: ctx.settings.trusted.has(req.socket.remoteAddress) }, forwarded: false };
}

/** host and port of a host:port ([v6]:port too). */
export function hostPort(address: string): { host: string; port: number } {
  const i = address.lastIndexOf(':');
  return { host: address.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(address.slice(i + 1)) };
}

/** Requests that may be sent again when they have no body (RFC 9110 idempotent methods). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE', 'PUT']);
/** Retries on the same instance after a reused connection broke: bounded, whatever the pool holds. */
const MAX_REUSE_RETRIES = 2;

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
  /** Another replica forwarded it: it is served from here or not at all. */
  private readonly forwarded: boolean;
  private readonly checked: CheckedRequest;
  private readonly framing: Framing;
  private readonly aborter = new AbortController();
  private readonly tried = new Set<TunnelEndpoint>();
  private readonly hasBody: boolean;
  private timer?: NodeJS.Timeout;
  /** The attempt in flight: its HTTP leg (which owns its connection until the response ends). */
  private current?: { leg: http.ClientRequest; release(): void };
  /** Answered with an error, timed out, or the client left: nothing more to do. */
  private over = false;
  private app = '';
  private reuseRetries = 0;

  constructor(
    private readonly ctx: IngressContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
  ) {
    this.checked = checkRequest(req);
    const host = this.checked.ok ? this.checked.host : '';
    ({ client: this.client, forwarded: this.forwarded } = clientOf(ctx, req, host));
    this.framing = this.checked.ok ? this.checked.framing : { kind: 'none' };
    this.hasBody = this.framing.kind === 'chunked' || (this.framing.kind === 'length' && this.framing.length > 0);
  }

  start(): void {
    const { settings } = this.ctx;
    if (!this.checked.ok) return this.fail(this.checked.failure);
    const elsewhere = this.forwarded ? undefined : this.ctx.elsewhere;
    const r = route(this.checked.host, { ...this.ctx, domain: settings.domain, port: settings.port, elsewhere });
    if (!r.ok) return void r.failure.then((f) => ('forward' in f ? this.toReplica(f.forward) : this.fail(f)));
    this.begin(r.app);
    this.next(r.deploymentId, undefined);
  }

  /** The request is under way to `app`: its timeout, and the client's going away. */
  private begin(app: string): void {
    const { settings } = this.ctx;
    this.app = app;
    this.timer = setTimeout(() => this.fail(timedOut(this.app, settings.requestTimeoutMs)), settings.requestTimeoutMs);
    this.res.on('close', () => {
      if (this.res.writableFinished) return;
      // The client went away (or the response broke): tear down whatever is in flight.
      this.over = true;
      this.finish();
    });
    if (this.hasBody) {
      // An upload cut short cannot be finished: its leg (and connection) must not wait for it.
      this.req.on('close', () => {
        if (!this.req.complete && this.current && !this.current.leg.writableFinished) this.current.leg.destroy();
      });
    }
  }

  /**
   * To the ingress of a replica where the app has a live tunnel, marked (never forwarded again),
   * on a kept-alive connection to it; its answer, whatever it is, is the client's. A kept-alive
   * connection that broke before an answer (it closed as we reused it) is tried once more on a
   * new one when the request can be sent again.
   */
  private toReplica(target: ForwardTarget, retry = false): void {
    if (this.over || this.res.destroyed) return; // the client left while the replicas were asked
    if (!retry) this.begin(target.app);
    const { req, res } = this;
    const headers = requestHeaders(req.rawHeaders, this.client, this.framing, false);
    headers.push(HOP_HEADER, this.ctx.elsewhere!.mark(this.client));
    const leg = http.request({
      ...hostPort(target.replica.httpAddress),
      method: req.method,
      path: this.checked.ok ? this.checked.path : '/',
      headers,
      setHost: false,
      agent: retry ? false : this.ctx.elsewhere!.agent(target.replica.httpAddress),
    });
    this.current = { leg, release: () => undefined };
    leg.on('response', (answer) => {
      clearTimeout(this.timer);
      if (this.over) return;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders));
      answer.pipe(res);
      answer.on('aborted', () => res.destroy());
      answer.on('error', () => res.destroy());
    });
    leg.on('error', (err) => {
      if (this.over) return;
      if (res.headersSent) return void res.destroy();
      this.current = undefined;
      if (leg.reusedSocket && !retry && IDEMPOTENT.has(req.method ?? '') && !this.hasBody) return this.toReplica(target, true);
      this.fail(notAnswering(this.app, `replica ${target.replica.httpAddress}, where it is connected, cannot be reached (${err.message})`));
    });
    if (this.hasBody) req.pipe(leg);
    else leg.end();
  }

  /** Tries the next endpoint of the deployment; `lastFailure` says why the previous one did not do. */
  private next(deploymentId: string, lastFailure: string | undefined): void {
    if (this.over) return;
    const pick = this.ctx.broker.pick(deploymentId, this.tried);
    if (pick.kind === 'busy') return this.fail(busy(this.app, this.ctx.settings.maxConcurrent));
    if (pick.kind === 'none') return this.fail(lastFailure ? notAnswering(this.app, lastFailure) : noInstance(this.app));
    this.tried.add(pick.endpoint);
    this.forward(pick.endpoint, deploymentId);
  }

  /** The HTTP leg on one of the endpoint's connections; it counts as in flight until it is over. */
  private forward(endpoint: TunnelEndpoint, deploymentId: string): void {
    const { req, res } = this;
    endpoint.inFlight++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      endpoint.inFlight--;
    };
    const options: TunnelRequestOptions = {
      agent: this.ctx.broker.poolOf(endpoint),
      method: req.method,
      path: this.checked.ok ? this.checked.path : '/',
      headers: requestHeaders(req.rawHeaders, this.client, this.framing),
      setHost: false,
      tunnelSignal: this.aborter.signal,
    };
    const leg = http.request(options);
    this.current = { leg, release };
    leg.once('close', release);
    leg.on('response', (answer) => {
      clearTimeout(this.timer);
      // The app answered before it had all of the body: whether it reads the rest as body, as
      // it should, or as a next request is its parser's business; that connection is not reused.
      if (!leg.writableFinished && leg.socket) neverReuse(leg.socket);
      if (this.over) return;
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, endToEnd(answer.rawHeaders));
      answer.pipe(res);
      // A body cut short by the app (or the tunnel) cannot be finished: cut ours too.
      answer.on('aborted', () => res.destroy());
      answer.on('error', () => res.destroy());
    });
    let failed = false;
    const onError = (err: Error) => {
      release();
      if (failed) return;
      failed = true;
      if (this.over) return; // given up already (and answered, if it could be)
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.current = undefined;
      const why = err instanceof TunnelError ? err.message : `the connection to it broke (${err.message})`;
      // Nothing reached the app: the tunnel failed before it, or the pool handed out a closed connection.
      const unsent = err instanceof TunnelError && err.beforeConnect;
      // A kept-alive connection the app closed as we reused it says nothing against the instance.
      if (leg.reusedSocket && this.reuseRetries++ < MAX_REUSE_RETRIES) this.tried.delete(endpoint);
      if (unsent || (IDEMPOTENT.has(req.method ?? '') && !this.hasBody)) this.next(deploymentId, why);
      else this.fail(notAnswering(this.app, why));
    };
    leg.on('error', onError);
    // The body waits for a live connection: after a failed open or a closed pooled connection
    // (both before anything was sent) it is still whole for the next attempt.
    leg.once('socket', () => {
      if (gotStaleConnection(leg)) {
        leg.destroy();
        onError(new TunnelError('the kept-alive connection had closed', true));
      } else if (this.hasBody) req.pipe(leg);
    });
    if (!this.hasBody) leg.end();
  }

  /** Answers with an error (when nothing was sent yet), logs it, and ends what is in flight. */
  private fail(f: Failure): void {
    if (this.over) return;
    this.over = true;
    this.finish();
    const { req, res } = this;
    logFailure(this.ctx.log, req, f);
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
      // Destroys its connection too, unless the response was complete and it went back to the pool.
      this.current.leg.destroy();
      this.current.release();
      this.current = undefined;
    }
  }
}

/** One line in the server's log per failed request (an upgrade's too). */
export function logFailure(log: ServerLog, req: IncomingMessage, f: Failure): void {
  // A 404 is a stranger's guess (scanners), not a problem of an app: not worth a warning.
  log[f.status === 404 ? 'debug' : 'warn']('URL request failed', {
    status: f.status,
    method: req.method,
    host: req.headers.host ?? '',
    path: (req.url ?? '').split('?')[0],
    ...(req.headers.upgrade !== undefined && { upgrade: req.headers.upgrade }),
    reason: f.message,
  });
}

/** The one-line plain-text answer to a failure: its body and headers. */
export function failureAnswer(f: Failure): { body: string; headers: Record<string, string | number> } {
  const body = `${f.message}\n`;
  return {
    body,
    headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...f.headers },
  };
}

/** A one-line plain-text answer; the connection closes when a request body is still coming. */
export function reply(res: ServerResponse, f: Failure): void {
  const { body, headers } = failureAnswer(f);
  res.writeHead(f.status, headers);
  res.end(body);
}
