// From a request's Host to the deployment whose tunnels carry it, or the status and one-line
// reason to answer with: 404 for a host, app or deployment this server does not know, 503 when
// it knows it but no instance of it has a live tunnel. A live tunnel is found at once, from
// memory; only the way to an error asks the store (which app or deployment was meant). On
// replicas, that way first asks where else the app has a live tunnel: the request is then
// forwarded to that replica's ingress (elsewhere.ts).
import type { Store } from '../store/store.js';
import type { TunnelBroker } from '../tunnel/broker.js';
import type { ForwardTarget, ReplicaIngress } from './elsewhere.js';
import { parseHost } from './host.js';

export interface RouteFailure {
  status: 404 | 503;
  message: string;
}

/** Not here, but on another replica. */
export interface Forward {
  forward: ForwardTarget;
}

/** A failure is a promise that never rejects: a store that cannot answer is a 503 too. */
export type Route = { ok: true; app: string; deploymentId: string } | { ok: false; failure: Promise<RouteFailure | Forward> };

export interface RouteContext {
  broker: TunnelBroker;
  store: Store;
  domain: string;
  port: number;
  /** The other replicas' tunnels; undefined on one server, and for a request forwarded here already. */
  elsewhere?: ReplicaIngress;
}

export function route(host: string | undefined, ctx: RouteContext): Route {
  const target = parseHost(host, ctx.domain);
  if (!target) {
    return failed(notFound(`no app at ${JSON.stringify(host ?? '')}: app URLs look like http://<app>.${ctx.domain}:${ctx.port}/`));
  }
  if (target.deploymentId) {
    const id = target.deploymentId;
    const serving = ctx.broker.liveOf(id);
    if (serving.length > 0 && serving[0].app.toLowerCase() === target.app) return { ok: true, app: serving[0].app, deploymentId: id };
    const there = ctx.elsewhere?.recent(target.app, id);
    if (there) return { ok: false, failure: Promise.resolve({ forward: there }) };
    return failed(noDeployment(ctx, target.app, id));
  }
  const newest = ctx.broker.newestLiveOfApp(target.app);
  if (newest) return { ok: true, ...newest };
  const there = ctx.elsewhere?.recent(target.app);
  if (there) return { ok: false, failure: Promise.resolve({ forward: there }) };
  return failed(noApp(ctx, target.app));
}

async function noDeployment({ store, elsewhere }: RouteContext, lowerApp: string, id: string): Promise<RouteFailure | Forward> {
  const deployment = await store.deployment(id);
  if (!deployment || deployment.app.toLowerCase() !== lowerApp) {
    const app = await appName(store, lowerApp);
    return notFound(app ? `app ${app} has no deployment ${id}` : `no app named ${lowerApp} on this server`);
  }
  const there = await elsewhere?.find(deployment.app, id);
  if (there) return { forward: there };
  return unavailable(`no instance of app ${deployment.app} (deployment ${id}) is connected with its tunnel`);
}

async function noApp({ store, elsewhere }: RouteContext, lower: string): Promise<RouteFailure | Forward> {
  const app = await appName(store, lower);
  if (!app) return notFound(`no app named ${lower} on this server`);
  const there = await elsewhere?.find(app);
  if (there) return { forward: there };
  return unavailable(`no instance of app ${app} is connected with its tunnel`);
}

/** The stored name of an app, matched case-insensitively; only on the way to an error. */
async function appName(store: Store, lower: string): Promise<string | undefined> {
  if ((await store.deployments(lower)).length > 0) return lower;
  return (await store.deployments()).find((d) => d.app.toLowerCase() === lower)?.app;
}

function failed(failure: RouteFailure | Promise<RouteFailure | Forward>): Route {
  const unreadable = (err: unknown) => unavailable(`the server cannot read its store: ${(err as Error).message}`);
  return { ok: false, failure: Promise.resolve(failure).catch(unreadable) };
}

const notFound = (message: string): RouteFailure => ({ status: 404, message });
const unavailable = (message: string): RouteFailure => ({ status: 503, message });
