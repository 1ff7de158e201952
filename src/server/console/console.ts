// server/console/ owns the web console's server side on the HTTP listener: requests whose Host
// is the bare host (host.ts) come here, `<app>.<domain>` stays the apps' ingress. Its JSON API
// under /api/v1/ (the routes of *-routes.ts and logs.ts, the exec WebSocket of exec-ws.ts) reads
// and changes the server through the same parts as the gRPC Control API; everything else is the
// front end's files (static.ts). Every answer carries the security headers (headers.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerContext } from '../context.js';
import { authenticate, checkWrite } from './auth.js';
import { configRoutes } from './config-routes.js';
import { handleExecUpgrade } from './exec-ws.js';
import { setSecurityHeaders } from './headers.js';
import { isConsoleHost } from './host.js';
import { HttpError, refuseUpgrade, sendError, sendJson, toHttpError } from './http.js';
import { InstanceView } from './instances.js';
import { logRoutes } from './logs.js';
import { readRoutes } from './read-routes.js';
import { type ConsoleParts, isWrite, matchRoute, type Route } from './router.js';
import { sessionRoutes } from './session-routes.js';
import { ConsoleSessions } from './sessions.js';
import type { SessionRecords } from './session-records.js';
import { StaticFiles } from './static.js';

export const ROUTES: readonly Route[] = [...sessionRoutes, ...readRoutes, ...configRoutes, ...logRoutes];
export const EXEC_PATH = '/api/v1/exec';

export interface ConsoleOptions {
  /** Where the built front end is (index.html, assets/). */
  dir: string;
  /** The URL domain: its bare name is the console's too. */
  domain: string;
  /** Where sessions are kept (default: this process; the database for replicas). */
  sessionRecords?: SessionRecords;
}

export class Console {
  readonly parts: ConsoleParts;
  private readonly files: StaticFiles;

  constructor(
    ctx: ServerContext,
    private readonly opts: ConsoleOptions,
  ) {
    const sessions = new ConsoleSessions(opts.sessionRecords);
    this.parts = { ctx, sessions, instances: new InstanceView(ctx) };
    this.files = new StaticFiles(opts.dir);
    // A revoked or rotated operator token ends its sessions (and their streams) at once.
    ctx.revocations.on((ids) => {
      sessions.endTokens(ids).then(
        (ended) => {
          if (ended > 0) ctx.log.info('console sessions ended: their operator token was revoked', { event: 'console.signout', sessions: ended, revoked_ids: ids });
        },
        (err: Error) => ctx.log.warn('console sessions of a revoked token not removed: they end at their next request', { error: err.message }),
      );
    });
    // Sign-outs reach the streams on every replica.
    sessions.onEnded = (keys) => void ctx.replicas.announce({ kind: 'sessions-ended', keys });
    ctx.revocations.onSessionsEnded((keys) => sessions.endedElsewhere(keys));
  }

  /** Whether a request (by its Host) is the console's. */
  wants(req: IncomingMessage): boolean {
    return isConsoleHost(req.headers.host, this.opts.domain);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    setSecurityHeaders(res);
    this.respond(req, res).catch((err: unknown) => {
      const e = toHttpError(err);
      // Our bugs as errors; refusals at debug, as the gRPC side logs them.
      if (e.status >= 500) this.parts.ctx.log.error('console: a request failed', { path: pathOf(req), status: e.status, error: e.message });
      else this.parts.ctx.log.debug('console: request refused', { path: pathOf(req), status: e.status, reason: e.message });
      sendError(res, e);
    });
  }

  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    if (pathOf(req) !== EXEC_PATH) return refuseUpgrade(socket, 404, `no WebSocket at ${pathOf(req)}: the console's is ${EXEC_PATH}`);
    handleExecUpgrade(this.parts, req, socket, head);
  }

  private async respond(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console.invalid');
    if (url.pathname !== '/api' && !url.pathname.startsWith('/api/')) return this.files.serve(req, res, url.pathname);
    const match = matchRoute(ROUTES, req.method ?? '', url.pathname);
    if (!match.ok) {
      if (match.status === 405) return sendJson(res, 405, { error: `${req.method} is not allowed here: use ${match.allow.join(' or ')}` }, { Allow: match.allow.join(', ') });
      throw new HttpError(404, `no route ${url.pathname}: the README's "The web console" lists them`);
    }
    const { route } = match;
    const parts = this.parts;
    if (route.auth === 'session') return route.handle({ parts, req, res, url });
    const caller = await authenticate({ auth: parts.ctx.auth, store: parts.ctx.store, sessions: parts.sessions }, req);
    if (isWrite(route.method)) checkWrite(caller, req);
    return route.handle({ parts, req, res, url, caller });
  }
}

function pathOf(req: IncomingMessage): string {
  return (req.url ?? '/').split('?')[0];
}
