// The URL service as the rest of the server sees it: the tunnel broker, the ingress settings,
// the url_service entry of every config, the URLs of an app and of each deployment, and the
// listing behind `waypoint-ctl url`.
import type { _hashicorp_waypoint_EntrypointConfig_URLService as URLServiceMessage } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { UrlInfo } from '../../protocol/generated/waypoint_entrypoint/control/v1/UrlInfo.js';
import type { InstanceRegistry } from '../instances.js';
import { RpcError, Status } from '../status.js';
import type { Deployment, Store } from '../store.js';
import type { TokenSigner } from '../tokens.js';
import { TunnelBroker } from './broker.js';
import { urlToken } from './url-token.js';

export const DEFAULT_HTTP_LISTEN = '127.0.0.1:9702';
export const DEFAULT_URL_DOMAIN = 'localhost';
export const DEFAULT_URL_REQUEST_TIMEOUT_MS = 30_000;
export const DEFAULT_URL_MAX_CONCURRENT = 100;

export interface UrlSettings {
  /** Apps are reached at <app>.<domain> and <app>--<deployment-id>.<domain>. */
  domain: string;
  /** The ingress's port, as it goes in URLs. */
  port: number;
  /** Time from a request's arrival to the app's response head. */
  requestTimeoutMs: number;
  /** Connections in flight per instance. */
  maxConcurrent: number;
}

export class UrlService {
  readonly broker: TunnelBroker;

  constructor(
    private readonly store: Store,
    private readonly signer: TokenSigner,
    private readonly registry: InstanceRegistry,
    readonly settings: UrlSettings,
  ) {
    this.broker = new TunnelBroker(registry, settings.maxConcurrent);
  }

  /** The config's url_service: this server (empty control_addr), with the deployment's URL token. */
  configEntry(deployment: Deployment): URLServiceMessage {
    return { control_addr: '', token: urlToken(this.signer, deployment), labels: '' };
  }

  appUrl(app: string): string {
    return this.url(app.toLowerCase());
  }

  deploymentUrl(app: string, deploymentId: string): string {
    return this.url(`${app.toLowerCase()}--${deploymentId.toLowerCase()}`);
  }

  /** Every app's URL (or one app's), then its deployments that have live instances or tunnels. */
  list(app: string): UrlInfo[] {
    const deployments = this.store.deployments(app || undefined);
    if (app && deployments.length === 0) {
      throw new RpcError(Status.NOT_FOUND, `there is no app named ${JSON.stringify(app)} (waypoint-ctl deployment list shows them)`);
    }
    const byApp = new Map<string, Deployment[]>();
    for (const d of deployments) byApp.set(d.app, [...(byApp.get(d.app) ?? []), d]);
    const withInstances = new Set(this.registry.list(app ? { app } : {}).map((i) => i.deploymentId));
    const out: UrlInfo[] = [];
    for (const [name, list] of [...byApp].sort(([a], [b]) => a.localeCompare(b))) {
      const newest = this.newestLive(list);
      out.push({ url: this.appUrl(name), app: name, deployment_id: '', instances: newest ? this.broker.liveOf(newest.id).length : 0 });
      for (const d of [...list].reverse()) {
        const serving = this.broker.liveOf(d.id).length;
        if (serving === 0 && !withInstances.has(d.id)) continue;
        out.push({ url: this.deploymentUrl(name, d.id), app: name, deployment_id: d.id, instances: serving });
      }
    }
    return out;
  }

  /** The newest of the deployments (oldest first) with a live tunnel: what the app's URL reaches. */
  newestLive(deployments: readonly Deployment[]): Deployment | undefined {
    for (let i = deployments.length - 1; i >= 0; i--) if (this.broker.liveOf(deployments[i].id).length > 0) return deployments[i];
    return undefined;
  }

  private url(label: string): string {
    const port = this.settings.port === 80 ? '' : `:${this.settings.port}`;
    return `http://${label}.${this.settings.domain}${port}/`;
  }
}
