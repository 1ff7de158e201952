// The console's read routes: apps, deployments, instances, exec history, URLs. Each answers from
// the same parts the gRPC Control API reads (the store, the registry, the log hub, the exec
// history through exec/operator.ts's listSessions, the URL service).
import { listSessions } from '../exec/operator.js';
import { urlServiceOf } from '../tunnel/urls.js';
import { checkScope } from '../config/app-config.js';
import type { ExecRecord } from '../store/store.js';
import { intParam, param, sendJson } from './http.js';
import { trackCaller } from './auth.js';
import { operator, type RequestContext, type Route } from './router.js';
import { EventStream } from './sse.js';

async function apps({ parts, res }: RequestContext): Promise<void> {
  const byApp = new Map<string, { name: string; deployments: number; instances: number; connected: number }>();
  const entry = (name: string) => {
    let e = byApp.get(name);
    if (!e) byApp.set(name, (e = { name, deployments: 0, instances: 0, connected: 0 }));
    return e;
  };
  for (const d of await parts.ctx.store.deployments()) entry(d.app).deployments++;
  await parts.instances.refreshRemote();
  for (const i of parts.instances.list()) {
    const e = entry(i.app);
    e.instances++;
    if (i.state === 'connected') e.connected++;
  }
  sendJson(res, 200, { apps: [...byApp.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) });
}

async function deployments({ parts, url, res }: RequestContext): Promise<void> {
  const app = checkedApp(param(url, 'app'));
  const list = await parts.ctx.store.deployments(app);
  sendJson(res, 200, { deployments: list.map((d) => ({ id: d.id, app: d.app, labels: d.labels, createdAt: d.createdAt })) });
}

async function instances({ parts, url, res }: RequestContext): Promise<void> {
  const filter = { app: checkedApp(param(url, 'app')), deploymentId: param(url, 'deployment') };
  await parts.instances.refreshRemote();
  sendJson(res, 200, { instances: parts.instances.list(filter) });
}

async function instanceStream(c: RequestContext): Promise<void> {
  const { parts, url, res } = c;
  const filter = { app: checkedApp(param(url, 'app')), deploymentId: param(url, 'deployment') };
  const events = new EventStream(res);
  events.onClose(trackCaller(parts.sessions, operator(c), () => events.close()));
  const untrack = parts.ctx.logs.track(() => events.close()); // ends with the server
  events.onClose(untrack);
  await parts.instances.refreshRemote(); // the first snapshot holds the other replicas' too
  if (!res.writableEnded) parts.instances.stream(events, filter);
}

async function execHistory({ parts, url, res }: RequestContext): Promise<void> {
  const app = checkedApp(param(url, 'app'));
  const limit = intParam(url, 'limit', 1_000_000) ?? 0;
  const sessions = await listSessions(parts.ctx.execHistory, { app, instanceId: param(url, 'instance'), limit });
  sendJson(res, 200, { sessions: sessions.map(sessionJson) });
}

async function urls({ parts, url, res }: RequestContext): Promise<void> {
  const service = urlServiceOf(parts.ctx.urls);
  // Per app and per deployment, as `waypoint-ctl url list`; instanceId stays null (no URL is an instance's own).
  const rows = await service.list(param(url, 'app'));
  sendJson(res, 200, {
    urls: rows.map((r) => ({ app: r.app, deploymentId: r.deployment_id || null, instanceId: null, instances: r.instances, url: r.url })),
  });
}

function sessionJson(r: ExecRecord) {
  return {
    id: String(r.id),
    app: r.app,
    deploymentId: r.deploymentId,
    instanceId: r.instanceId,
    args: r.args,
    tty: r.tty,
    startedAt: r.startedAt,
    endedAt: r.endedAt ?? null,
    state: r.state,
    exitCode: r.exitCode ?? null,
    error: r.error,
    operatorAddress: r.operatorAddress,
    operatorTokenId: r.operatorTokenId,
  };
}

/** '' (every app) or a valid app name, by config's rule; 400 otherwise. */
export function checkedApp(app: string): string {
  checkScope(app);
  return app;
}

export const readRoutes: Route[] = [
  { method: 'GET', path: '/api/v1/apps', auth: 'operator', handle: apps },
  { method: 'GET', path: '/api/v1/deployments', auth: 'operator', handle: deployments },
  { method: 'GET', path: '/api/v1/instances', auth: 'operator', handle: instances },
  { method: 'GET', path: '/api/v1/instances/stream', auth: 'operator', handle: instanceStream },
  { method: 'GET', path: '/api/v1/exec-history', auth: 'operator', handle: execHistory },
  { method: 'GET', path: '/api/v1/urls', auth: 'operator', handle: urls },
];
