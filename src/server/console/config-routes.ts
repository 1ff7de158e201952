// The console's config routes, through AppConfig as `waypoint-ctl config` goes through SetConfig
// and GetConfig: the same rules (a refused name is 400 with its reason, and nothing changes), the
// same pushes to live instances, the same audit records with the console's caller.
import type { ConfigKind } from '../../rules/config.js';
import { maskSettings } from '../../rules/dynamic.js';
import { dynamicConfig } from '../config/resolve.js';
import type { VarChange } from '../store/store.js';
import { HttpError, param, readJson, sendJson } from './http.js';
import { checkedApp } from './read-routes.js';
import { operator, type RequestContext, type Route } from './router.js';

const KINDS: readonly ConfigKind[] = ['static', 'internal', 'file'];

async function getConfig({ parts, url, res }: RequestContext): Promise<void> {
  const app = checkedApp(param(url, 'app'));
  const { vars, fileChangeSignal } = await parts.ctx.appConfig.view(app);
  sendJson(res, 200, {
    scope: app,
    fileChangeSignal,
    vars: vars.map((v) => ({
      name: v.name,
      kind: v.kind,
      // Internal values are secrets: masked here as in `config get`. A dynamic var has no value
      // here: its source type and own settings, secrets masked, as `config get` shows them.
      value: v.kind === 'internal' || v.dynamicFrom !== undefined ? null : v.value.toString('utf8'),
      ...(v.dynamicFrom === undefined ? {} : { dynamic: { from: v.dynamicFrom, config: maskSettings(dynamicConfig(v)) } }),
      scope: v.app,
      overridden: v.overridden,
      updatedAt: v.updatedAt,
    })),
  });
}

async function putConfig(c: RequestContext): Promise<void> {
  const { parts, req, res } = c;
  const { app, set } = changeOf(await readJson(req));
  const notified = await parts.ctx.appConfig.change(app, set, [], operator(c).actor);
  sendJson(res, 200, { changed: set.length, instancesNotified: notified });
}

async function deleteConfig(c: RequestContext): Promise<void> {
  const { parts, url, res } = c;
  const app = checkedApp(param(url, 'app'));
  const names = url.searchParams.getAll('name');
  if (names.length === 0) throw new HttpError(400, 'name the vars to unset: ?name=A&name=B');
  const notified = await parts.ctx.appConfig.change(app, [], names, operator(c).actor);
  sendJson(res, 200, { changed: names.length, instancesNotified: notified });
}

/** The body of a PUT: its shape checked here; names, values and limits by AppConfig's rules. */
export function changeOf(body: unknown): { app: string; set: VarChange[] } {
  const b = body as { app?: unknown; vars?: unknown } | null;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw shape();
  const app = b.app === undefined ? '' : b.app;
  if (typeof app !== 'string') throw shape();
  if (!Array.isArray(b.vars) || b.vars.length === 0) throw new HttpError(400, 'give the vars to set: {"app": "<app or empty>", "vars": [{"name", "value", "kind"}]}');
  const set = b.vars.map((v: unknown, i: number): VarChange => {
    const { name, value, kind = 'static' } = (v ?? {}) as { name?: unknown; value?: unknown; kind?: unknown };
    if (typeof name !== 'string' || typeof value !== 'string') throw new HttpError(400, `vars[${i}] needs a string "name" and a string "value"`);
    if (typeof kind !== 'string' || !KINDS.includes(kind as ConfigKind)) throw new HttpError(400, `vars[${i}]: kind must be static, internal or file`);
    return { name, kind: kind as ConfigKind, value: Buffer.from(value, 'utf8') };
  });
  return { app: checkedApp(app), set };
}

function shape(): HttpError {
  return new HttpError(400, 'the body must be {"app": "<app or empty for global>", "vars": [{"name", "value", "kind"}]}');
}

export const configRoutes: Route[] = [
  { method: 'GET', path: '/api/v1/config', auth: 'operator', handle: getConfig },
  { method: 'PUT', path: '/api/v1/config', auth: 'operator', handle: putConfig },
  { method: 'DELETE', path: '/api/v1/config', auth: 'operator', handle: deleteConfig },
];
