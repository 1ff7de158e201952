// Who calls the console API: the session cookie, or `Authorization: Bearer <operator token>`
// (for curl). The token is checked by server/auth/ as every gRPC call's is: no credentials is
// 401, an entrypoint, invite or URL token 403. A session is only as good as its token: one made
// with a token since revoked or rotated ends at its next use. Writes made with the cookie need
// the session's CSRF token and, when the browser says where it comes from, this very origin.
import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { type Actor, actorOf } from '../audit.js';
import { type Authenticator, type Principal, requireOperator } from '../auth/authenticator.js';
import type { Store } from '../store/store.js';
import { parseCookies, SESSION_COOKIE } from './cookies.js';
import { HttpError, toHttpError } from './http.js';
import { sameOrigin } from './origin.js';
import { type ConsoleSessions, csrfMatches, type Session } from './sessions.js';

const WHAT = 'the console API';

export interface Caller {
  principal: Principal;
  /** The session, when the cookie brought the caller. */
  session?: Session;
  actor: Actor;
}

export interface AuthParts {
  auth: Authenticator;
  store: Store;
  sessions: ConsoleSessions;
}

/** The operator calling, or 401/403. */
export async function authenticate(parts: AuthParts, req: IncomingMessage): Promise<Caller> {
  const peer = peerOf(req);
  const header = req.headers.authorization;
  if (header !== undefined) {
    const principal = await operatorOf(parts, bearerToken(header));
    return { principal, actor: actorOf(principal, peer) };
  }
  const id = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
  const session = await parts.sessions.get(id);
  if (!session) {
    throw new HttpError(
      401,
      id
        ? 'your console session has ended (signed out, expired, or the server restarted): sign in again'
        : 'sign in first (POST /api/v1/session with the operator token), or send Authorization: Bearer <operator token>',
    );
  }
  const record = await parts.store.token(session.tokenId);
  if (!record || record.revokedAt !== undefined) {
    await parts.sessions.end(session.key);
    throw new HttpError(401, 'the operator token this session was signed in with was revoked or rotated: sign in again with the current one');
  }
  const principal: Principal = { kind: 'operator', tokenId: session.tokenId };
  return { principal, session, actor: actorOf(principal, peer) };
}

/** Closes a stream of the caller when its session ends or its token is revoked; returns the untrack. */
export function trackCaller(sessions: ConsoleSessions, caller: Caller, close: () => void): () => void {
  return caller.session ? sessions.track(caller.session, close) : sessions.trackToken(caller.principal.tokenId, close);
}

/** The operator's principal for a token, or 401 (bad, revoked) / 403 (another kind of token). */
export async function operatorOf(parts: Pick<AuthParts, 'auth'>, token: string): Promise<Principal> {
  try {
    const principal = await parts.auth.principalOf(token, WHAT);
    requireOperator(principal, WHAT);
    return principal;
  } catch (err) {
    throw toHttpError(err);
  }
}

/** A cookie-borne write: the session's CSRF token and, if the browser sent one, our Origin. */
export function checkWrite(caller: Caller, req: IncomingMessage): void {
  // Bearer: nothing a page of another site could make a browser send by itself.
  if (!caller.session) return;
  const given = req.headers['x-csrf-token'];
  if (!csrfMatches(caller.session, typeof given === 'string' ? given : undefined)) {
    throw new HttpError(403, 'missing or wrong X-CSRF-Token: send the csrf that POST or GET /api/v1/session gave');
  }
  checkOrigin(req);
}

/** An Origin header, when present, must be this host's. */
export function checkOrigin(req: IncomingMessage): void {
  const origin = req.headers.origin;
  if (origin !== undefined && !sameOrigin(origin, req.headers.host)) {
    throw new HttpError(403, `refused: the request comes from another site (Origin ${JSON.stringify(origin.slice(0, 100))}), not from the console`);
  }
}

function bearerToken(header: string): string {
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (!m) throw new HttpError(401, 'the Authorization header must be "Bearer <operator token>"');
  return m[1];
}

/** Whether the request came over TLS, here or (said by a trusted proxy) in front. */
export function cameOverTls(req: IncomingMessage, trusted: (address: string | undefined) => boolean): boolean {
  if ((req.socket as TLSSocket).encrypted) return true;
  const proto = req.headers['x-forwarded-proto'];
  return trusted(req.socket.remoteAddress) && typeof proto === 'string' && proto.split(',')[0].trim().toLowerCase() === 'https';
}

export function peerOf(req: IncomingMessage): string {
  return `${req.socket.remoteAddress ?? ''}:${req.socket.remotePort ?? ''}`;
}
