// The `consul` dynamic config source: a Consul KV key (Waypoint's request fields: key,
// namespace, partition, datacenter, allow_stale), kept current in the background by a blocking
// query per key (consul-watch.ts) that asks the resolver for a refresh when the key changes; a
// read returns the latest answers at once. One query per key rather than one per prefix: a
// recursive query returns the whole subtree, which for a key near the root is the whole store.
import { readFileSync } from 'node:fs';
import type { DynamicRequest, DynamicResult, DynamicSource, SourceContext, SourceFactory } from '../source.js';
import { type ConsulSettings, consulSettings } from './consul-settings.js';
import { KeyWatch, type KvAnswer, type KvQuery } from './consul-watch.js';
import { HttpClient, oneLine, tlsOptions } from './shared/http.js';
import { failed, requestFailed } from './shared/results.js';

export const create: SourceFactory = (settings, context) => new ConsulSource(consulSettings(settings, context.env, context.logger), context);

class ConsulSource implements DynamicSource {
  private readonly client: HttpClient;
  private readonly watches = new Map<string, KeyWatch>();

  constructor(
    private readonly s: ConsulSettings,
    private readonly context: SourceContext,
  ) {
    const tls = tlsOptions(s.tls, {
      caFile: 'ca_file (CONSUL_CACERT)',
      caPath: 'ca_path (CONSUL_CAPATH)',
      certFile: 'cert_file (CONSUL_CLIENT_CERT)',
      keyFile: 'key_file (CONSUL_CLIENT_KEY)',
    });
    this.client = new HttpClient(s.address, { tls, timeoutMs: s.timeoutMs, what: 'Consul', caHint: 'ca_file (CONSUL_CACERT)' });
  }

  async read(requests: readonly DynamicRequest[], signal: AbortSignal): Promise<DynamicResult[]> {
    const wanted = new Set<string>();
    const results = await Promise.all(
      requests.map(async (req): Promise<DynamicResult> => {
        const key = req.config.key?.replace(/^\/+/, '');
        if (!key) return failed('invalid', `a consul variable needs key (a KV path such as app/db/password)`);
        const query: KvQuery = {
          key,
          datacenter: req.config.datacenter || this.s.datacenter,
          namespace: req.config.namespace || this.s.namespace,
          partition: req.config.partition || this.s.partition,
          stale: !/^(0|f|false)$/i.test(req.config.allow_stale ?? 'true'),
        };
        const id = JSON.stringify(query);
        wanted.add(id);
        let watch = this.watches.get(id);
        if (!watch) {
          watch = new KeyWatch(query, (q, index, s) => this.fetch(q, index, s), () => this.context.refresh(), signal);
          this.watches.set(id, watch);
        }
        await watch.ready;
        return watch.result!;
      }),
    );
    // A key no variable asks for any more is not watched any more
    for (const [id, watch] of this.watches) {
      if (!wanted.has(id)) {
        watch.stop();
        this.watches.delete(id);
      }
    }
    return results;
  }

  close(): void {
    for (const watch of this.watches.values()) watch.stop();
    this.watches.clear();
    this.client.close();
  }

  /** GET /v1/kv/<key>, blocking on `index` when it is 1 or more. */
  private async fetch(query: KvQuery, index: number, signal: AbortSignal): Promise<KvAnswer> {
    const token = this.token();
    if (typeof token === 'object') return { result: token, retry: true };
    const blocking = index >= 1;
    try {
      const res = await this.client.request({
        path: `/v1/kv/${query.key.split('/').map(encodeURIComponent).join('/')}`,
        query: {
          dc: query.datacenter,
          ns: query.namespace,
          partition: query.partition,
          stale: query.stale ? 'true' : undefined,
          index: blocking ? String(index) : undefined,
          wait: blocking ? `${Math.round(this.s.waitMs / 1000)}s` : undefined,
        },
        headers: { 'X-Consul-Token': token, Authorization: this.s.httpAuth ? `Basic ${Buffer.from(this.s.httpAuth).toString('base64')}` : undefined },
        signal,
        // Consul adds up to wait/16 to spread wake-ups; our own deadline comes on top
        timeoutMs: blocking ? this.s.waitMs + this.s.waitMs / 16 + this.s.timeoutMs : undefined,
      });
      const header = Number(res.headers['x-consul-index']);
      const newIndex = Number.isSafeInteger(header) && header >= 0 ? header : undefined;
      return { ...this.answer(query, res.status, res.json(), res.text), index: newIndex };
    } catch (err) {
      return { result: requestFailed(err), retry: true };
    }
  }

  private answer(query: KvQuery, status: number, json: unknown, text: string): { result: DynamicResult; retry: boolean } {
    const where = describe(query);
    if (status === 200 && Array.isArray(json)) {
      const entry = json.find((e) => (e as { Key?: string })?.Key === query.key) as { Value?: string | null } | undefined;
      if (!entry) return { result: failed('not-found', `Consul has no key ${where}`), retry: false };
      return { result: { ok: true, value: entry.Value ? Buffer.from(entry.Value, 'base64').toString('utf8') : '' }, retry: false };
    }
    const says = oneLine(text, 200);
    const answer = says ? ` (${status}: ${says})` : ` (${status})`;
    if (status === 404) return { result: failed('not-found', `Consul has no key ${where}`), retry: false };
    if (status === 403 || status === 401) return { result: failed('denied', `Consul denied reading ${where}${answer}: check the token's key_prefix read rule`), retry: true };
    if (status >= 500 || status === 429) return { result: failed('transient', `Consul could not answer for ${where}${answer}`), retry: true };
    return { result: failed('invalid', `Consul refused reading ${where}${answer}`), retry: true };
  }

  /** The ACL token: token (CONSUL_HTTP_TOKEN), else the file token_file names, read each time
   * (an agent may rewrite it). */
  private token(): string | undefined | DynamicResult {
    if (this.s.token || !this.s.tokenFile) return this.s.token;
    try {
      return readFileSync(this.s.tokenFile, 'utf8').trim();
    } catch (err) {
      return failed('invalid', `cannot read the Consul token file ${this.s.tokenFile}: ${(err as NodeJS.ErrnoException).code}`);
    }
  }
}

function describe(q: KvQuery): string {
  const where = [q.datacenter && `datacenter ${q.datacenter}`, q.partition && `partition ${q.partition}`, q.namespace && `namespace ${q.namespace}`].filter(Boolean);
  return where.length > 0 ? `${q.key} (${where.join(', ')})` : q.key;
}
