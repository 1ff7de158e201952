// Upgrade requests (WebSocket, h2c, anything with `Upgrade`): routed like any request, then
// carried as raw bytes. The request head (with X-Forwarded-*) and the bytes that came with it go
// into a tunnel connection, and from there bytes are piped both ways until either side closes;
// the app's own answer (101 or a refusal) is relayed as it is. Errors before the tunnel answer
// one plain-text line on the socket, as a normal request would get.
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TunnelEndpoint } from '../tunnel/broker.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { clientAddress, upgradeHead } from './headers.js';
import { busy, type Failure, failureAnswer, type IngressContext, logFailure, noInstance, notAnswering, timedOut } from './proxy.js';
import { route } from './route.js';

/** After the app's side is done, how long the client may take to close its own. */
const CLOSE_GRACE_MS = 5_000;

export async function handleUpgrade(ctx: IngressContext, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  const { settings, broker } = ctx;
  const fail = (f: Failure) => {
    logFailure(ctx.log, req, f);
    writeFailure(socket, f);
  };
  const r = route(req.headers.host, { broker, store: ctx.store, domain: settings.domain, port: settings.port });
  if (!r.ok) return fail({ status: r.status, message: r.message });

  const aborter = new AbortController();
  let gone = false;
  socket.on('error', () => undefined);
  socket.once('close', () => {
    gone = true;
    aborter.abort();
  });
  const tried = new Set<TunnelEndpoint>();
  let lastFailure: string | undefined;
  let tunnel: TunnelConnection | undefined;
  while (!tunnel) {
    if (gone) return;
    const pick = broker.pick(r.deploymentId, tried);
    if (pick.kind === 'busy') return fail(busy(r.app, settings.maxConcurrent));
    if (pick.kind === 'none') return fail(lastFailure ? notAnswering(r.app, lastFailure) : noInstance(r.app));
    const endpoint = pick.endpoint;
    tried.add(endpoint);
    endpoint.inFlight++;
    try {
      tunnel = await broker.open(endpoint, { signal: aborter.signal });
      tunnel.once('close', () => endpoint.inFlight--);
    } catch (err) {
      endpoint.inFlight--;
      lastFailure = (err as Error).message;
    }
  }
  if (gone) {
    tunnel.destroy(new Error('the client went away'));
    return;
  }

  const client = { remoteAddress: clientAddress(req.socket.remoteAddress), host: req.headers.host ?? '' };
  tunnel.write(upgradeHead(req.method ?? 'GET', req.url ?? '/', req.httpVersion, req.rawHeaders, client));
  if (head.length > 0) tunnel.write(head);
  // Nothing back from the app in time: answer 504, as a plain request would get.
  const timer = setTimeout(() => {
    fail(timedOut(r.app, settings.requestTimeoutMs));
    tunnel.destroy(new Error('no response in time'));
  }, settings.requestTimeoutMs);
  tunnel.once('data', () => clearTimeout(timer));
  tunnel.once('close', () => clearTimeout(timer));
  // Either side failing ends both; a clean close of one side half-closes the other (pipe), and
  // once the tunnel is done the client gets a moment to close its side before it is cut.
  tunnel.on('error', () => socket.destroy());
  socket.on('error', () => tunnel.destroy(new Error('the client connection failed')));
  socket.once('close', () => tunnel.destroy(new Error('the client went away')));
  tunnel.once('close', () => {
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  });
  socket.pipe(tunnel);
  tunnel.pipe(socket);
}

/** A one-line plain-text HTTP answer on a raw socket, then close. */
function writeFailure(socket: Duplex, f: Failure): void {
  if (socket.destroyed) return;
  const { body, headers } = failureAnswer(f);
  const lines = Object.entries({ ...headers, Connection: 'close' }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(`HTTP/1.1 ${f.status} ${STATUS_CODES[f.status] ?? 'Error'}\r\n${lines}\r\n${body}`);
}
