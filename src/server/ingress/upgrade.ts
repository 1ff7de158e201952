// Upgrade requests (WebSocket, h2c, anything with `Upgrade`): checked and routed like any
// request, then sent to the app by Node's HTTP client on a tunnel connection of their own. Only
// the app's `101 Switching Protocols` turns the connection into raw bytes piped both ways (M5);
// any other answer is relayed as an ordinary response and the connection closes, so a client
// never holds a raw pipe to an app that did not switch. An upgraded connection with no bytes
// either way for --url-upgrade-idle-timeout is closed, and its instance's slot is free as soon
// as the app's side ends, whatever the client does with its own. Errors before the app answered
// are one plain-text line on the socket, as a normal request would get.
import http, { type IncomingMessage, STATUS_CODES } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { TunnelEndpoint } from '../tunnel/broker.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { type ForwardTarget, HOP_HEADER } from './elsewhere.js';
import { type ClientInfo, endToEnd, upgradeHeaders } from './headers.js';
import { busy, clientOf, type Failure, failureAnswer, hostPort, type IngressContext, logFailure, noInstance, notAnswering, timedOut } from './proxy.js';
import { route } from './route.js';
import { checkRequest } from './strict.js';

/** After the app's side is done, how long the client may take to close its own. */
const CLOSE_GRACE_MS = 5_000;

export async function handleUpgrade(ctx: IngressContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const { settings, broker } = ctx;
  socket.on('error', () => undefined);
  const fail = (f: Failure) => {
    logFailure(ctx.log, req, f);
    writeFailure(socket, f);
  };
  const checked = checkRequest(req);
  if (!checked.ok) return fail(checked.failure);
  // Its body would have to be framed before the switch and raw after it: not carried.
  if (checked.framing.kind === 'chunked' || (checked.framing.kind === 'length' && checked.framing.length > 0)) {
    return fail({ status: 400, message: 'bad request: an Upgrade request with a body is not supported; send it without Upgrade' });
  }
  const { client, forwarded } = clientOf(ctx, req, checked.host);
  const elsewhere = forwarded ? undefined : ctx.elsewhere;
  const r = route(checked.host, { broker, store: ctx.store, domain: settings.domain, port: settings.port, elsewhere });
  if (!r.ok) {
    const f = await r.failure;
    if ('forward' in f) return toReplica({ ctx, req, socket, head, fail }, f.forward, checked.path, client);
    return fail(f);
  }

  const aborter = new AbortController();
  let gone = false;
  socket.once('close', () => {
    gone = true;
    aborter.abort();
  });
  const tried = new Set<TunnelEndpoint>();
  let lastFailure: string | undefined;
  let opened: { tunnel: TunnelConnection; endpoint: TunnelEndpoint } | undefined;
  while (!opened) {
    if (gone) return;
    const pick = broker.pick(r.deploymentId, tried);
    if (pick.kind === 'busy') return fail(busy(r.app, settings.maxConcurrent));
    if (pick.kind === 'none') return fail(lastFailure ? notAnswering(r.app, lastFailure) : noInstance(r.app));
    const endpoint = pick.endpoint;
    tried.add(endpoint);
    endpoint.inFlight++;
    try {
      opened = { tunnel: await broker.open(endpoint, { signal: aborter.signal }), endpoint };
    } catch (err) {
      endpoint.inFlight--;
      lastFailure = (err as Error).message;
    }
  }
  const { tunnel, endpoint } = opened;
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    endpoint.inFlight--;
  };
  tunnel.once('close', release);
  if (gone) {
    tunnel.destroy(new Error('the client went away'));
    return;
  }
  new UpgradeLeg({ ctx, req, socket, head, tunnel, app: r.app, release, fail }).send(checked.path, upgradeHeaders(req.rawHeaders, client, req.headers.upgrade ?? ''));
}

/**
 * To the ingress of a replica where the app has a live tunnel, marked (never forwarded again),
 * on a connection of its own: from there on it is an upgrade like any other, its connection in
 * place of a tunnel's.
 */
function toReplica(o: Pick<LegOptions, 'ctx' | 'req' | 'socket' | 'head' | 'fail'>, target: ForwardTarget, path: string, client: ClientInfo): void {
  if (o.socket.destroyed) return; // the client left while the replicas were asked
  const connection = net.connect(hostPort(target.replica.httpAddress));
  connection.on('error', () => undefined); // said by the leg's error
  const headers = upgradeHeaders(o.req.rawHeaders, client, o.req.headers.upgrade ?? '', false);
  headers.push(HOP_HEADER, o.ctx.elsewhere!.mark(client));
  new UpgradeLeg({ ...o, tunnel: connection, app: target.app, release: () => undefined }).send(path, headers);
}

interface LegOptions {
  ctx: IngressContext;
  req: IncomingMessage;
  socket: Duplex;
  /** Bytes the client sent after its head: the new protocol's, sent on only after a 101. */
  head: Buffer;
  /** A tunnel connection to the app, or a connection to another replica's ingress. */
  tunnel: TunnelConnection | net.Socket;
  app: string;
  release(): void;
  fail(f: Failure): void;
}

/** The upgrade request on its tunnel connection, and what follows the app's answer. */
class UpgradeLeg {
  /** The app answered (a 101 or another response), or the client got a failure. */
  private state: 'waiting' | 'answered' | 'failed' = 'waiting';

  constructor(private readonly o: LegOptions) {}

  send(path: string, headers: string[]): void {
    const { req, socket, tunnel, ctx, app } = this.o;
    const leg = http.request({ method: req.method, path, headers, setHost: false, createConnection: () => tunnel });
    const timer = setTimeout(() => {
      this.failOnce(timedOut(app, ctx.settings.requestTimeoutMs));
      leg.destroy();
    }, ctx.settings.requestTimeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      leg.destroy();
      tunnel.destroy(new Error('the client went away'));
    });
    leg.on('error', (err) => {
      clearTimeout(timer);
      this.failOnce(notAnswering(app, err.message));
      tunnel.destroy();
    });
    leg.on('upgrade', (res, appSocket: Duplex, appHead: Buffer) => {
      clearTimeout(timer);
      this.state = 'answered';
      this.pipe(res, appSocket, appHead);
    });
    leg.on('response', (res) => {
      clearTimeout(timer);
      this.state = 'answered';
      this.relay(res);
    });
    leg.end();
  }

  private failOnce(f: Failure): void {
    if (this.state === 'failed') return;
    if (this.state === 'answered') return void this.o.socket.destroy();
    this.state = 'failed';
    this.o.release();
    this.o.fail(f);
  }

  /** The app switched: its 101 to the client, then raw bytes both ways until either side is done or idle. */
  private pipe(res: IncomingMessage, appSocket: Duplex, appHead: Buffer): void {
    const { socket, head, release, ctx } = this.o;
    socket.write(responseHead(res, res.rawHeaders));
    if (appHead.length > 0) socket.write(appHead);
    if (head.length > 0) appSocket.write(head);
    const idle = setTimeout(() => {
      appSocket.destroy();
      socket.destroy();
    }, ctx.settings.upgradeIdleTimeoutMs);
    idle.unref();
    const active = () => idle.refresh();
    socket.on('data', active);
    appSocket.on('data', active);
    // Either side failing ends both; a clean end of one side half-closes the other (pipe). The
    // app's end frees the instance's slot at once, and the client then has a moment to close.
    appSocket.on('error', () => socket.destroy());
    socket.on('error', () => appSocket.destroy());
    socket.once('close', () => {
      clearTimeout(idle);
      appSocket.destroy();
    });
    const appDone = () => {
      release();
      clearTimeout(idle);
      setTimeout(() => {
        socket.destroy();
        appSocket.destroy();
      }, CLOSE_GRACE_MS).unref();
    };
    appSocket.once('end', appDone);
    appSocket.once('close', appDone);
    socket.pipe(appSocket);
    appSocket.pipe(socket);
  }

  /** Any other answer: an ordinary response, delimited by the connection's close, and then closed. */
  private relay(res: IncomingMessage): void {
    const { socket, tunnel, release } = this.o;
    const headers = endToEnd(res.rawHeaders);
    headers.push('Connection', 'close');
    socket.write(responseHead(res, headers));
    res.pipe(socket);
    const done = () => {
      release();
      tunnel.destroy();
    };
    res.once('end', done);
    res.once('error', () => {
      done();
      socket.destroy();
    });
    res.once('aborted', () => socket.destroy());
  }
}

/** The status line and headers of an answer, as the client gets them. */
function responseHead(res: IncomingMessage, raw: readonly string[]): Buffer {
  let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? STATUS_CODES[res.statusCode ?? 0] ?? ''}\r\n`;
  for (let i = 0; i < raw.length; i += 2) text += `${raw[i]}: ${raw[i + 1]}\r\n`;
  // Header values are bytes as Node's parser read them (latin1), not UTF-8.
  return Buffer.from(`${text}\r\n`, 'latin1');
}

/** A one-line plain-text HTTP answer on a raw socket, then close. */
function writeFailure(socket: Duplex, f: Failure): void {
  if (socket.destroyed) return;
  const { body, headers } = failureAnswer(f);
  const lines = Object.entries({ ...headers, Connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${f.status} ${STATUS_CODES[f.status] ?? 'Error'}\r\n${lines}\r\n${body}`);
}
