// The `vault` dynamic config source: a variable's `path` is read from Vault's HTTP API (KV v1,
// KV v2 as `<mount>/data/<name>`, or any secrets engine: database/creds/<role>…) and its `key`
// is an RFC 6901 pointer into the answer's `data` (`/data/password` for KV v2), as in
// Waypoint's own Vault sourcer. One read per path per round; leased secrets are renewed
// instead of read again (vault-leases.ts); the token is renewed or renewed by logging in again
// (vault-auth.ts).
import type { DynamicRequest, DynamicResult, DynamicSource, SourceContext, SourceFactory } from '../source.js';
import { answerText, numberField, type VaultAnswer, VaultApi } from './vault-api.js';
import { AuthError, VaultAuth } from './vault-auth.js';
import { LeaseKeeper } from './vault-leases.js';
import { type VaultSettings, vaultSettings } from './vault-settings.js';
import { HttpClient, tlsOptions } from './shared/http.js';
import { getPointer, parsePointer, PointerError, valueString } from './shared/pointer.js';
import { type Failed, failed, requestFailed } from './shared/results.js';

export const create: SourceFactory = (settings, context) => new VaultSource(vaultSettings(settings, context.env, context.logger), context);

type PathResult = { ok: true; data: unknown } | Failed;

class VaultSource implements DynamicSource {
  private readonly api: VaultApi;
  private readonly auth: VaultAuth;
  private readonly leases: LeaseKeeper;

  constructor(s: VaultSettings, context: SourceContext) {
    const tls = tlsOptions(s.tls, {
      caFile: 'ca_cert (VAULT_CACERT)',
      caPath: 'ca_path (VAULT_CAPATH)',
      certFile: 'client_cert (VAULT_CLIENT_CERT)',
      keyFile: 'client_key (VAULT_CLIENT_KEY)',
    });
    const client = new HttpClient(s.addr, { tls, timeoutMs: s.timeoutMs, what: 'Vault', caHint: 'ca_cert (VAULT_CACERT)' });
    this.api = new VaultApi(client, s.namespace);
    this.auth = new VaultAuth(this.api, s, context.logger);
    this.leases = new LeaseKeeper(this.api, (signal) => this.auth.token(signal), () => context.refresh(), context.logger);
  }

  async read(requests: readonly DynamicRequest[], signal: AbortSignal): Promise<DynamicResult[]> {
    const paths = new Map<string, Promise<PathResult>>();
    return Promise.all(
      requests.map(async (req): Promise<DynamicResult> => {
        const path = req.config.path?.replace(/^\/+/, '');
        const key = req.config.key;
        if (!path || key === undefined) return failed('invalid', `a vault variable needs path and key (e.g. path=secret/data/db key=/data/password)`);
        let tokens: string[];
        try {
          tokens = parsePointer(key);
        } catch (err) {
          if (err instanceof PointerError) return failed('invalid', err.message);
          throw err;
        }
        let pending = paths.get(path);
        if (!pending) {
          pending = this.readPath(path, signal);
          paths.set(path, pending);
        }
        const result = await pending;
        if (!result.ok) return result;
        const found = getPointer(result.data, tokens);
        if (!found.found) return failed('not-found', `the Vault secret at ${path} has no ${found.missing} (key ${key})`);
        return { ok: true, value: valueString(found.value) };
      }),
    );
  }

  close(): void {
    this.leases.close();
    this.auth.close();
    this.api.client.close();
  }

  private async readPath(path: string, signal: AbortSignal): Promise<PathResult> {
    const held = this.leases.data(path);
    if (held !== undefined) return { ok: true, data: held };
    try {
      let token = await this.auth.token(signal);
      let answer = await this.api.call('GET', path, { token, signal });
      // A login's token may have been revoked under us: one new login, then the read again
      if (answer.status === 403 && this.auth.invalidate(token)) {
        token = await this.auth.token(signal);
        answer = await this.api.call('GET', path, { token, signal });
      }
      return this.answer(path, answer);
    } catch (err) {
      if (err instanceof AuthError) return failed(err.failure, err.message);
      return requestFailed(err);
    }
  }

  private answer(path: string, answer: VaultAnswer): PathResult {
    const { status, body } = answer;
    if (status === 200 && body && body.data !== null && typeof body.data === 'object') {
      const leaseId = typeof body.lease_id === 'string' ? body.lease_id : '';
      const leaseSec = numberField(body, 'lease_duration');
      // A lease id marks a leased secret; KV's lease_duration alone is only a refresh hint
      if (leaseId && leaseSec > 0) {
        this.leases.hold(path, { leaseId, leaseSec, renewable: body.renewable === true, data: body.data });
      } else {
        this.leases.forget(path);
      }
      return { ok: true, data: body.data };
    }
    if (status === 404 || status === 204 || status === 200) {
      return failed('not-found', `Vault has no secret at ${path} ${answerText(answer)}`);
    }
    if (status === 403 || status === 401) return failed('denied', `Vault denied reading ${path} ${answerText(answer)}: check the token's policy`);
    if (status >= 500 || status === 429 || status === 412) return failed('transient', `Vault could not answer for ${path} ${answerText(answer)}`);
    return failed('invalid', `Vault refused reading ${path} ${answerText(answer)}`);
  }
}
