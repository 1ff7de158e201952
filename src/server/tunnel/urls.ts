// server/tunnel/ owns the entrypoints' side of URLs: the tunnels they register and the
// connections the server asks of them; the HTTP side is ingress/.
//
// The URL service as the rest of the server sees it: the tunnel broker, the ingress settings,
// the url_service entry of every config, the URLs of an app and of each deployment, and the
// listing behind `waypoint-ctl url`.
import type { _hashicorp_waypoint_EntrypointConfig_URLService as URLServiceMessage } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { UrlInfo } from '../../protocol/generated/waypoint_entrypoint/control/v1/UrlInfo.js';
import type { TrustedProxies } from '../ingress/trusted.js';
import type { InstanceRegistry } from '../instances/registry.js';
import type { Replicas } from '../replicas/replicas.js';
import { RpcError, Status } from '../rpc/status.js';
import type { Deployment, Store } from '../store/store.js';
import type { TokenSigner } from '../auth/tokens.js';
import { TunnelBroker } from './broker.js';
import { urlToken } from './url-token.js';

export interface UrlSettings {
  /** Apps are reached at <app>.<domain> and <app>--<deployment-id>.<domain>. */
  domain: string;
  /** The ingress's port, as it goes in URLs. */
  port: number;
  /** Time from a request's arrival to the app's response head. */
  requestTimeoutMs: number;
  /** Connections in flight per instance. */
  maxConcurrent: number;
  /** An upgraded connection (WebSocket) with no bytes either way for this long is closed. */
  upgradeIdleTimeoutMs: number;
  /** Peers whose forwarded headers are kept. */
  trusted: TrustedProxies;
}

/** The URL service, or FAILED_PRECONDITION saying it is off (for every reader of URLs). */
export function urlServiceOf(urls: UrlService | undefined): UrlService {
  if (!urls) throw new RpcError(Status.FAILED_PRECONDITION, 'the URL service is off on this server (it runs with --http-listen off)');
  return urls;
}

export class UrlService {
  readonly broker: TunnelBroker;
  private lastEntry: { deploymentId: string; entry: URLServiceMessage } | undefined;

  constructor(
    private readonly store: Store,
    private readonly signer: TokenSigner,
    private readonly registry: InstanceRegistry,
    readonly settings: UrlSettings,
    /** Replicas (PostgreSQL): the tunnels of instances on the others count too (the ingress forwards to them). */
    private readonly replicas?: Replicas,
  ) {
    this.broker = new TunnelBroker(registry, settings.maxConcurrent);
  }

  /** The config's url_service: this server (empty control_addr), with the deployment's URL token. */
  configEntry(deployment: Deployment): URLServiceMessage {
    // The last one made, again for the same deployment: a fleet registering signs one token and
    // its instances' streams hold one entry, not one each.
    if (this.lastEntry?.deploymentId !== deployment.id) {
      this.lastEntry = { deploymentId: deployment.id, entry: { control_addr: '', token: urlToken(this.signer, deployment), labels: '' } };
    }
    return this.lastEntry.entry;
  }

  appUrl(app: string): string {
    return this.url(app.toLowerCase());
  }

  deploymentUrl(app: string, deploymentId: string): string {
    return this.url(`${app.toLowerCase()}--${deploymentId.toLowerCase()}`);
  }

  /**
   * One row per URL, as the ingress routes them: each app URL (app names that differ only in
   * case share one, lower-cased), naming the app and counting the instances of the deployment it
   * reaches (the broker's newestLiveOfApp, as route.ts), then, newest first, the URLs of its
   * deployments that have live instances or tunnels. `app` (any case) picks one app URL.
   */
  async list(app: string): Promise<UrlInfo[]> {
    const wanted = app.toLowerCase();
    const byUrl = new Map<string, Deployment[]>();
    for (const d of await this.store.deployments()) {
      const key = d.app.toLowerCase();
      if (wanted && key !== wanted) continue;
      let group = byUrl.get(key);
      if (!group) byUrl.set(key, (group = []));
      group.push(d);
    }
    if (app && byUrl.size === 0) {
      throw new RpcError(Status.NOT_FOUND, `there is no app named ${JSON.stringify(app)} (waypoint-ctl deployment list shows them)`);
    }
    const withInstances = new Set(this.registry.list().map((i) => i.deploymentId));
    // Instances with a live tunnel on the other alive replicas, per deployment.
    const elsewhere = new Map<string, number>();
    for (const { info, replica } of this.replicas?.shared ? await this.replicas.remoteInstances() : []) {
      if (!replica.alive) continue;
      withInstances.add(info.deploymentId);
      if (info.urlTunnel) elsewhere.set(info.deploymentId, (elsewhere.get(info.deploymentId) ?? 0) + 1);
    }
    const out: UrlInfo[] = [];
    for (const [key, group] of [...byUrl].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      // Newest first (ids are ULIDs: the store's order is creation order, per app).
      group.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
      const rows = group.map((d) => ({ d, serving: this.broker.liveOf(d.id).length + (elsewhere.get(d.id) ?? 0) }));
      // As the ingress routes: the newest deployment with a tunnel here, else the newest anywhere.
      const here = this.broker.newestLiveOfApp(key);
      const reached = here ? rows.find((r) => r.d.id === here.deploymentId) : rows.find((r) => r.serving > 0);
      out.push({ url: this.appUrl(key), app: reached?.d.app ?? group[0].app, deployment_id: '', instances: reached?.serving ?? 0 });
      for (const { d, serving } of rows) {
        if (serving === 0 && !withInstances.has(d.id)) continue;
        out.push({ url: this.deploymentUrl(d.app, d.id), app: d.app, deployment_id: d.id, instances: serving });
      }
    }
    return out;
  }

  private url(label: string): string {
    const port = this.settings.port === 80 ? '' : `:${this.settings.port}`;
    return `http://${label}.${this.settings.domain}${port}/`;
  }
}
