// Sign-in and sign-out: POST /api/v1/session trades the operator token (pasted once) for a
// session cookie and its CSRF token; GET says whether the cookie's session is alive (the page
// asks at load); DELETE ends it. Each sign-in and sign-out is an audit record.
import { authenticate, cameOverTls, checkOrigin, operatorOf, peerOf } from './auth.js';
import { actorOf } from '../audit.js';
import { clearedSessionCookie, sessionCookie } from './cookies.js';
import { HttpError, readJson, sendJson } from './http.js';
import { operator, type RequestContext, type Route } from './router.js';
import { SESSION_TTL_MS } from './sessions.js';

async function signIn({ parts, req, res }: RequestContext): Promise<void> {
  checkOrigin(req);
  const body = await readJson(req);
  const token = (body as { token?: unknown } | null)?.token;
  if (typeof token !== 'string' || token.trim() === '') throw new HttpError(400, 'send {"token": "<operator token>"}');
  const principal = await operatorOf(parts.ctx, token.trim());
  const { id, session } = await parts.sessions.create(principal.tokenId);
  parts.ctx.log.info('console sign-in', { event: 'console.signin', expires_at: new Date(session.expiresAt).toISOString(), ...actorOf(principal, peerOf(req)) });
  const secure = cameOverTls(req, (a) => parts.ctx.urls?.settings.trusted.has(a) ?? false);
  sendJson(res, 200, { csrf: session.csrf, expiresAt: session.expiresAt }, { 'Set-Cookie': sessionCookie(id, SESSION_TTL_MS / 1000, secure) });
}

async function sessionState({ parts, req, res }: RequestContext): Promise<void> {
  const caller = await authenticate({ auth: parts.ctx.auth, store: parts.ctx.store, sessions: parts.sessions }, req);
  if (!caller.session) throw new HttpError(401, 'no console session: this route is for the cookie (sign in with POST /api/v1/session)');
  sendJson(res, 200, { csrf: caller.session.csrf, expiresAt: caller.session.expiresAt });
}

async function signOut(c: RequestContext): Promise<void> {
  const { parts, req, res } = c;
  const caller = operator(c);
  const secure = cameOverTls(req, (a) => parts.ctx.urls?.settings.trusted.has(a) ?? false);
  if (!caller.session) throw new HttpError(400, 'no console session to end: sign-out is for the cookie');
  await parts.sessions.end(caller.session.key);
  parts.ctx.log.info('console sign-out', { event: 'console.signout', ...caller.actor });
  res.writeHead(204, { 'Set-Cookie': clearedSessionCookie(secure), 'Cache-Control': 'no-store' });
  res.end();
}

export const sessionRoutes: Route[] = [
  { method: 'POST', path: '/api/v1/session', auth: 'session', handle: signIn },
  { method: 'GET', path: '/api/v1/session', auth: 'session', handle: sessionState },
  // A write: the session's CSRF token and origin (checked in console.ts like any write).
  { method: 'DELETE', path: '/api/v1/session', auth: 'operator', handle: signOut },
];
