// From a request's Host to the deployment whose tunnels carry it, or the status and one-line
// reason to answer with: 404 for a host, app or deployment this server does not know, 503 when
// it knows it but no instance of it has a live tunnel.
import type { Store } from '../store/store.js';
import type { TunnelBroker } from '../tunnel/broker.js';
import { parseHost } from './host.js';

export type Route = { ok: true; app: string; deploymentId: string } | { ok: false; status: 404 | 503; message: string };

export interface RouteContext {
  broker: TunnelBroker;
  store: Store;
  domain: string;
  port: number;
}

export function route(host: string | undefined, ctx: RouteContext): Route {
  const target = parseHost(host, ctx.domain);
  if (!target) {
    return notFound(`no app at ${JSON.stringify(host ?? '')}: app URLs look like http://<app>.${ctx.domain}:${ctx.port}/`);
  }
  if (target.deploymentId) {
    const id = target.deploymentId;
    const serving = ctx.broker.liveOf(id);
    if (serving.length > 0 && serving[0].app.toLowerCase() === target.app) return { ok: true, app: serving[0].app, deploymentId: id };
    const deployment = ctx.store.deployment(id);
    if (!deployment || deployment.app.toLowerCase() !== target.app) {
      const app = appName(ctx.store, target.app);
      return notFound(app ? `app ${app} has no deployment ${id}` : `no app named ${target.app} on this server`);
    }
    return unavailable(`no instance of app ${deployment.app} (deployment ${id}) is connected with its tunnel`);
  }
  const newest = ctx.broker.newestLiveOfApp(target.app);
  if (newest) return { ok: true, ...newest };
  const app = appName(ctx.store, target.app);
  if (!app) return notFound(`no app named ${target.app} on this server`);
  return unavailable(`no instance of app ${app} is connected with its tunnel`);
}

/** The stored name of an app, matched case-insensitively; only on the way to an error. */
function appName(store: Store, lower: string): string | undefined {
  if (store.deployments(lower).length > 0) return lower;
  return store.deployments().find((d) => d.app.toLowerCase() === lower)?.app;
}

const notFound = (message: string): Route => ({ ok: false, status: 404, message });
const unavailable = (message: string): Route => ({ ok: false, status: 503, message });
