// A loopback Vault, from Vault's published HTTP API: KV v1 (mount kv/), KV v2 (mount secret/,
// read at secret/data/<name>), a database engine whose creds/<role> are leased, token auth
// (lookup-self, renew-self), AppRole and Kubernetes logins, sys/leases/renew, namespaces
// (X-Vault-Namespace). TTLs and max TTLs are in seconds, as Vault's, and short in tests.
import { randomUUID } from 'node:crypto';
import { FakeBackend, type FakeAnswer, type FakeRequest, type FakeTls } from './fake-backend.js';

interface Token {
  ttl: number;
  /** Ends at, in ms; Infinity for a root-like token without TTL */
  expiresAt: number;
  maxExpiresAt: number;
  renewable: boolean;
  creationTtl: number;
}

interface Lease {
  path: string;
  ttl: number;
  expiresAt: number;
  maxExpiresAt: number;
  renewable: boolean;
}

export interface TokenOptions {
  ttl?: number;
  maxTtl?: number;
  renewable?: boolean;
}

const denied: FakeAnswer = { status: 403, body: { errors: ['permission denied'] } };

export class FakeVault extends FakeBackend {
  readonly kv1 = new Map<string, Record<string, unknown>>();
  readonly kv2 = new Map<string, Record<string, unknown>>();
  /** database/creds/<role>: each read makes new credentials under a lease */
  readonly dbRoles = new Map<string, { ttl: number; maxTtl: number; renewable: boolean }>();
  readonly tokens = new Map<string, Token>();
  readonly leases = new Map<string, Lease>();
  approle?: { roleId: string; secretId: string; token: TokenOptions };
  kubernetes?: { role: string; jwt: string; token: TokenOptions };
  /** When set, requests must carry this X-Vault-Namespace. */
  namespace?: string;
  /** Leases Vault no longer renews (e.g. revoked) */
  refuseRenewals = false;
  issued = 0;

  constructor(tls?: FakeTls) {
    super(tls);
  }

  addToken(token: string, { ttl = 0, maxTtl = ttl * 10, renewable = ttl > 0 }: TokenOptions = {}): void {
    const now = Date.now();
    this.tokens.set(token, {
      ttl,
      expiresAt: ttl > 0 ? now + ttl * 1000 : Infinity,
      maxExpiresAt: ttl > 0 ? now + maxTtl * 1000 : Infinity,
      renewable,
      creationTtl: ttl,
    });
  }

  revoke(token: string): void {
    this.tokens.delete(token);
  }

  protected handle(req: FakeRequest): FakeAnswer {
    if (!req.path.startsWith('/v1/')) return { status: 404, body: { errors: [] } };
    if (this.namespace && req.headers['x-vault-namespace'] !== this.namespace) return denied;
    const path = req.path.slice(4);
    const body = req.body ? (JSON.parse(req.body) as Record<string, unknown>) : {};
    if (req.method === 'POST' && path === 'auth/approle/login') return this.approleLogin(body);
    if (req.method === 'POST' && path === 'auth/kubernetes/login') return this.kubernetesLogin(body);
    const token = this.valid(req.headers['x-vault-token']);
    if (!token) return denied;
    const [name, t] = token;
    if (path === 'auth/token/lookup-self' && req.method === 'GET') return this.lookupSelf(t);
    if (path === 'auth/token/renew-self' && req.method === 'POST') return this.renewSelf(name, t, body);
    if (path === 'sys/leases/renew' && (req.method === 'PUT' || req.method === 'POST')) return this.renewLease(body);
    if (req.method === 'GET') return this.readSecret(path);
    return { status: 405, body: { errors: ['unsupported operation'] } };
  }

  private valid(header: string | string[] | undefined): [string, Token] | undefined {
    const t = typeof header === 'string' ? this.tokens.get(header) : undefined;
    return t && Date.now() < t.expiresAt ? [header as string, t] : undefined;
  }

  private readSecret(path: string): FakeAnswer {
    const kv1 = /^kv\/(.+)$/.exec(path);
    if (kv1) {
      const data = this.kv1.get(kv1[1]);
      return data ? secret({ data, lease_duration: 2764800 }) : { status: 404, body: { errors: [] } };
    }
    const kv2 = /^secret\/data\/(.+)$/.exec(path);
    if (kv2) {
      const data = this.kv2.get(kv2[1]);
      return data
        ? secret({ data: { data, metadata: { created_time: new Date().toISOString(), version: 1, destroyed: false } } })
        : { status: 404, body: { errors: [] } };
    }
    if (/^secret\/(?!data\/)/.test(path)) {
      return { status: 404, body: { errors: [], warnings: ['Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use \'vault kv get\' for this operation.'] } };
    }
    const db = /^database\/creds\/(.+)$/.exec(path);
    const role = db && this.dbRoles.get(db[1]);
    if (role) {
      const leaseId = `${path}/${randomUUID()}`;
      const now = Date.now();
      this.leases.set(leaseId, { path, ttl: role.ttl, expiresAt: now + role.ttl * 1000, maxExpiresAt: now + role.maxTtl * 1000, renewable: role.renewable });
      this.issued++;
      return secret({ lease_id: leaseId, renewable: role.renewable, lease_duration: role.ttl, data: { username: `v-${this.issued}`, password: randomUUID() } });
    }
    return { status: 404, body: { errors: [] } };
  }

  private renewLease(body: Record<string, unknown>): FakeAnswer {
    const lease = this.leases.get(String(body.lease_id));
    const now = Date.now();
    if (!lease || now >= lease.expiresAt || this.refuseRenewals) return { status: 400, body: { errors: ['lease not found'] } };
    if (!lease.renewable) return { status: 400, body: { errors: ['lease is not renewable'] } };
    const asked = typeof body.increment === 'number' ? body.increment : lease.ttl;
    const granted = Math.max(0, Math.min(asked, Math.floor((lease.maxExpiresAt - now) / 1000)));
    lease.expiresAt = now + granted * 1000;
    return { status: 200, body: { request_id: randomUUID(), lease_id: body.lease_id, renewable: true, lease_duration: granted, data: null, warnings: null } };
  }

  private lookupSelf(t: Token): FakeAnswer {
    const ttl = t.expiresAt === Infinity ? 0 : Math.max(0, Math.round((t.expiresAt - Date.now()) / 1000));
    return secret({ data: { ttl, creation_ttl: t.creationTtl, renewable: t.renewable, policies: ['default'] } });
  }

  private renewSelf(name: string, t: Token, body: Record<string, unknown>): FakeAnswer {
    if (!t.renewable) return { status: 400, body: { errors: ['lease is not renewable'] } };
    const asked = typeof body.increment === 'string' ? parseInt(body.increment, 10) : t.creationTtl;
    const now = Date.now();
    const granted = Math.max(0, Math.min(asked, Math.floor((t.maxExpiresAt - now) / 1000)));
    t.expiresAt = now + granted * 1000;
    return secret({ auth: { client_token: name, policies: ['default'], lease_duration: granted, renewable: true } });
  }

  private issue(options: TokenOptions): FakeAnswer {
    const token = `hvs.${randomUUID()}`;
    this.addToken(token, options);
    const t = this.tokens.get(token)!;
    return secret({ auth: { client_token: token, accessor: randomUUID(), policies: ['default'], lease_duration: t.ttl, renewable: t.renewable } });
  }

  private approleLogin(body: Record<string, unknown>): FakeAnswer {
    if (!this.approle || body.role_id !== this.approle.roleId || body.secret_id !== this.approle.secretId) {
      return { status: 400, body: { errors: ['invalid role or secret ID'] } };
    }
    return this.issue(this.approle.token);
  }

  private kubernetesLogin(body: Record<string, unknown>): FakeAnswer {
    if (!this.kubernetes || body.role !== this.kubernetes.role) return { status: 400, body: { errors: ['invalid role name'] } };
    if (body.jwt !== this.kubernetes.jwt) return denied;
    return this.issue(this.kubernetes.token);
  }
}

function secret(fields: Record<string, unknown>): FakeAnswer {
  return {
    status: 200,
    body: { request_id: randomUUID(), lease_id: '', renewable: false, lease_duration: 0, data: null, wrap_info: null, warnings: null, auth: null, ...fields },
  };
}
