// A loopback Kubernetes API server, from the core/v1 API: GET of a namespace's ConfigMap or
// Secret, bearer tokens (service-account JWTs whose claims name the account), RBAC as a set of
// what each account may get, and failures as metav1 Status objects, worded as the API server
// words them.
import { FakeBackend, type FakeAnswer, type FakeRequest, type FakeTls } from './fake-backend.js';

export interface Account {
  namespace: string;
  name: string;
}

/** A token as a projected service-account token looks: a JWT (unsigned here: the fake only
 * matches it whole) whose claims name the account. */
export function serviceAccountJwt(account: Account, serial = 1): string {
  const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = {
    aud: ['https://kubernetes.default.svc'],
    exp: Math.floor(Date.now() / 1000) + 3600,
    iat: Math.floor(Date.now() / 1000),
    iss: 'https://kubernetes.default.svc',
    jti: `jti-${serial}`,
    'kubernetes.io': { namespace: account.namespace, serviceaccount: { name: account.name, uid: 'uid-1' } },
    sub: `system:serviceaccount:${account.namespace}:${account.name}`,
  };
  return `${part({ alg: 'RS256', kid: 'k1' })}.${part(claims)}.c2lnbmF0dXJl`;
}

function status(code: number, reason: string, message: string, details?: Record<string, string>): FakeAnswer {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code } };
}

export class FakeKubernetes extends FakeBackend {
  /** namespace/kind/name → data (plain text; Secrets are sent base64 as the API does) */
  readonly configMaps = new Map<string, Record<string, string>>();
  readonly secrets = new Map<string, Record<string, string>>();
  /** The tokens the server accepts now, and whose they are. */
  readonly tokens = new Map<string, Account>();
  /** "namespace/resource" each account (namespace/name) may get */
  readonly allowed = new Map<string, Set<string>>();

  constructor(tls: FakeTls) {
    super(tls);
  }

  allow(account: Account, namespace: string, resource: 'configmaps' | 'secrets'): void {
    const key = `${account.namespace}/${account.name}`;
    if (!this.allowed.has(key)) this.allowed.set(key, new Set());
    this.allowed.get(key)!.add(`${namespace}/${resource}`);
  }

  protected unavailable(): FakeAnswer {
    return status(503, 'ServiceUnavailable', 'the server is currently unable to handle the request');
  }

  protected handle(req: FakeRequest): FakeAnswer {
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    const account = auth ? this.tokens.get(auth[1]) : undefined;
    if (!account) return status(401, 'Unauthorized', 'Unauthorized');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|secrets)\/([^/]+)$/.exec(req.path);
    if (req.method !== 'GET' || !m) return status(404, 'NotFound', 'the server could not find the requested resource');
    const [, namespace, resource, name] = m;
    if (!this.allowed.get(`${account.namespace}/${account.name}`)?.has(`${namespace}/${resource}`)) {
      return status(
        403,
        'Forbidden',
        `${resource} "${name}" is forbidden: User "system:serviceaccount:${account.namespace}:${account.name}" cannot get resource "${resource}" in API group "" in the namespace "${namespace}"`,
        { name, kind: resource },
      );
    }
    const store = resource === 'secrets' ? this.secrets : this.configMaps;
    const data = store.get(`${namespace}/${name}`);
    if (!data) return status(404, 'NotFound', `${resource} "${name}" not found`, { name, kind: resource });
    const metadata = { name, namespace, uid: 'u1', resourceVersion: '1' };
    if (resource === 'configmaps') {
      // keys named *.bin are binaryData (base64), as kubectl makes them from non-UTF-8 files
      const text = Object.fromEntries(Object.entries(data).filter(([k]) => !k.endsWith('.bin')));
      const binary = Object.fromEntries(Object.entries(data).filter(([k]) => k.endsWith('.bin')).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
      return { status: 200, body: { kind: 'ConfigMap', apiVersion: 'v1', metadata, data: text, ...(Object.keys(binary).length ? { binaryData: binary } : {}) } };
    }
    const encoded = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
    return { status: 200, body: { kind: 'Secret', apiVersion: 'v1', metadata, type: 'Opaque', data: encoded } };
  }
}
