// The `kubernetes` dynamic config source: a key of a ConfigMap or Secret (Waypoint's request
// fields: name, key, namespace, secret=true), read from the API server in-cluster as the pod's
// own service account. The token is read anew for each request (projected tokens rotate); the
// namespace defaults to the pod's. A 403 names the service account, the verb and the resource,
// which is what the operator needs to write the RoleBinding.
import { readFileSync } from 'node:fs';
import type { DynamicRequest, DynamicResult, DynamicSource, SourceContext, SourceFactory } from '../source.js';
import { SourceSettingsError } from '../source.js';
import { HttpClient, oneLine, tlsOptions } from './shared/http.js';
import { type Failed, failed, requestFailed } from './shared/results.js';
import { parseDuration, pick, type Settings, warnUnknown } from './shared/settings.js';

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
const KNOWN = ['token_path', 'ca_cert', 'namespace_path', 'timeout'];

export const create: SourceFactory = (settings, context) => new KubernetesSource(settings, context);

interface Target {
  namespace: string;
  resource: 'configmaps' | 'secrets';
  name: string;
}

type ObjectResult = { ok: true; data: Record<string, string> } | Failed;

class KubernetesSource implements DynamicSource {
  private readonly client: HttpClient;
  private readonly tokenPath: string;
  private readonly namespacePath: string;
  private podNamespace?: string;

  constructor(settings: Settings, private readonly context: SourceContext) {
    warnUnknown(settings, KNOWN, 'kubernetes', context.logger);
    const host = context.env.KUBERNETES_SERVICE_HOST;
    const port = context.env.KUBERNETES_SERVICE_PORT || '443';
    if (!host) throw new SourceSettingsError('the kubernetes source reads in-cluster, and KUBERNETES_SERVICE_HOST is not set: is this a pod?');
    this.tokenPath = settings.token_path || `${SA_DIR}/token`;
    this.namespacePath = settings.namespace_path || `${SA_DIR}/namespace`;
    const tls = tlsOptions({ caFile: settings.ca_cert || `${SA_DIR}/ca.crt` }, { caFile: 'the cluster CA' });
    const address = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
    const timeoutMs = parseDuration(pick(settings, {}, 'timeout'), 'kubernetes timeout', 10_000);
    this.client = new HttpClient(address, { tls, timeoutMs, what: 'the Kubernetes API server', caHint: 'ca_cert' });
  }

  async read(requests: readonly DynamicRequest[], signal: AbortSignal): Promise<DynamicResult[]> {
    const objects = new Map<string, Promise<ObjectResult>>();
    return Promise.all(
      requests.map(async (req): Promise<DynamicResult> => {
        const { name, key } = req.config;
        if (!name || !key) return failed('invalid', `a kubernetes variable needs name and key (and secret=true for a Secret)`);
        const namespace = req.config.namespace || this.namespace();
        if (!namespace) return failed('invalid', `no namespace: set namespace on the variable, or run in a pod (${this.namespacePath} is unreadable)`);
        const target: Target = { namespace, resource: /^(1|t|true)$/i.test(req.config.secret ?? '') ? 'secrets' : 'configmaps', name };
        const id = `${namespace}/${target.resource}/${name}`;
        let pending = objects.get(id);
        if (!pending) {
          pending = this.get(target, signal);
          objects.set(id, pending);
        }
        const result = await pending;
        if (!result.ok) return result;
        if (!Object.hasOwn(result.data, key)) return failed('not-found', `${kind(target)} ${namespace}/${name} has no key ${JSON.stringify(key)}`);
        return { ok: true, value: result.data[key] };
      }),
    );
  }

  close(): void {
    this.client.close();
  }

  /** The pod's namespace, from the file Kubernetes mounts beside the token. */
  private namespace(): string | undefined {
    if (this.podNamespace === undefined) {
      try {
        this.podNamespace = readFileSync(this.namespacePath, 'utf8').trim();
      } catch {
        return undefined;
      }
    }
    return this.podNamespace;
  }

  private async get(target: Target, signal: AbortSignal): Promise<ObjectResult> {
    let token: string;
    try {
      token = readFileSync(this.tokenPath, 'utf8').trim();
    } catch (err) {
      return failed('invalid', `cannot read the service account token ${this.tokenPath}: ${(err as NodeJS.ErrnoException).code}`);
    }
    const path = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/${target.resource}/${encodeURIComponent(target.name)}`;
    try {
      const res = await this.client.request({ path, headers: { Authorization: `Bearer ${token}` }, signal });
      const body = res.json() as Record<string, unknown> | undefined;
      if (res.status === 200 && body) return { ok: true, data: values(target, body) };
      return this.failure(target, res.status, body, token);
    } catch (err) {
      return requestFailed(err);
    }
  }

  private failure(target: Target, status: number, body: Record<string, unknown> | undefined, token: string): Failed {
    const what = `${kind(target)} ${target.namespace}/${target.name}`;
    const says = typeof body?.message === 'string' ? ` (${status} ${body.reason ?? ''}: ${oneLine(body.message, 300)})` : ` (${status})`;
    if (status === 404) return failed('not-found', `there is no ${what}${says}`);
    if (status === 403) {
      return failed(
        'denied',
        `the service account ${serviceAccount(token)} may not get ${target.resource} "${target.name}" in namespace ${target.namespace}${says}: ` +
          `grant it get on ${target.resource} with a Role and RoleBinding`,
      );
    }
    if (status === 401) return failed('denied', `the Kubernetes API server did not accept the service account token in ${this.tokenPath}${says}`);
    if (status >= 500 || status === 429) return failed('transient', `the Kubernetes API server could not answer for ${what}${says}`);
    return failed('invalid', `the Kubernetes API server refused reading ${what}${says}`);
  }
}

function kind(target: Target): string {
  return target.resource === 'secrets' ? 'Secret' : 'ConfigMap';
}

/** A ConfigMap's data (and binaryData) or a Secret's data, decoded to text. */
function values(target: Target, body: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  const decode = (map: unknown, base64: boolean) => {
    if (map === null || typeof map !== 'object') return;
    for (const [k, v] of Object.entries(map)) if (typeof v === 'string') out[k] = base64 ? Buffer.from(v, 'base64').toString('utf8') : v;
  };
  if (target.resource === 'secrets') decode(body.data, true);
  else {
    decode(body.binaryData, true);
    decode(body.data, false);
  }
  return out;
}

/** Who the token says we are, from its claims (never the token itself): "prod/web". */
export function serviceAccount(token: string): string {
  try {
    const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
    const sub = typeof claims.sub === 'string' ? /^system:serviceaccount:([^:]+):([^:]+)$/.exec(claims.sub) : null;
    if (sub) return `${sub[1]}/${sub[2]}`;
    const k8s = claims['kubernetes.io'] as { namespace?: string; serviceaccount?: { name?: string } } | undefined;
    if (k8s?.namespace && k8s.serviceaccount?.name) return `${k8s.namespace}/${k8s.serviceaccount.name}`;
    const legacyNs = claims['kubernetes.io/serviceaccount/namespace'];
    const legacyName = claims['kubernetes.io/serviceaccount/service-account.name'];
    if (legacyNs && legacyName) return `${legacyNs}/${legacyName}`;
  } catch {
    // not a JWT: said below
  }
  return '(unknown: the token carries no service account claims)';
}
