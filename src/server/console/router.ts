// The console API's routes: method and exact path to a handler, and whether it needs a caller.
// Matching is pure (tested alone): a path that is no route is 404, a route asked with another
// method 405 with the methods it takes.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../context.js';
import type { Caller } from './auth.js';
import type { InstanceView } from './instances.js';
import type { ConsoleSessions } from './sessions.js';

/** What every handler gets: the server's parts and the console's own. */
export interface ConsoleParts {
  ctx: ServerContext;
  sessions: ConsoleSessions;
  instances: InstanceView;
}

export interface RequestContext {
  parts: ConsoleParts;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  /** The operator, for routes that need one (checked before the handler runs); none for sign-in. */
  caller?: Caller;
}

/** The caller of an operator route (always there: console.ts authenticates before the handler). */
export function operator(c: RequestContext): Caller {
  if (!c.caller) throw new Error('an operator route ran without its caller');
  return c.caller;
}

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  /** 'session': the sign-in routes, which check what they need themselves. */
  auth: 'operator' | 'session';
  handle(c: RequestContext): Promise<void>;
}

export type Match = { ok: true; route: Route } | { ok: false; status: 404 } | { ok: false; status: 405; allow: string[] };

export function matchRoute(routes: readonly Route[], method: string, pathname: string): Match {
  const path = pathname.length > 1 ? pathname.replace(/\/+$/, '') : pathname;
  const onPath = routes.filter((r) => r.path === path);
  if (onPath.length === 0) return { ok: false, status: 404 };
  const route = onPath.find((r) => r.method === method);
  return route ? { ok: true, route } : { ok: false, status: 405, allow: onPath.map((r) => r.method) };
}

/** Writes change something; they need same-origin proof when made with the cookie. */
export function isWrite(method: string): boolean {
  return method === 'POST' || method === 'PUT' || method === 'DELETE' || method === 'PATCH';
}
