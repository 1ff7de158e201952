// A loopback Consul agent, from Consul's HTTP API: GET /v1/kv/<key> with dc, ns, partition
// and stale, X-Consul-Index on every answer (the entry's ModifyIndex, or the KV table's index
// when the key is missing), blocking queries (index + wait) that return on a write to the key
// or when the wait is over, and ACLs (X-Consul-Token) that answer 403 "Permission denied".
import type { FakeAnswer, FakeRequest, FakeTls } from './fake-backend.js';
import { FakeBackend } from './fake-backend.js';

interface Entry {
  value: string | null;
  createIndex: number;
  modifyIndex: number;
}

export class FakeConsul extends FakeBackend {
  private readonly kv = new Map<string, Entry>();
  private readonly waiters = new Set<() => void>();
  /** The KV table's index: raised by every write. */
  tableIndex = 1;
  /** When set, requests must carry this X-Consul-Token. */
  aclToken?: string;
  datacenters = ['dc1'];
  /** Answer X-Consul-Index: 0, as buggy Consul versions did (its docs tell clients to use 1). */
  zeroIndex = false;

  constructor(tls?: FakeTls) {
    super(tls);
  }

  private static id(key: string, ns = 'default', partition = 'default', dc = 'dc1'): string {
    return `${dc}|${partition}|${ns}|${key}`;
  }

  put(key: string, value: string | null, where: { ns?: string; partition?: string; dc?: string } = {}): void {
    const id = FakeConsul.id(key, where.ns, where.partition, where.dc);
    const index = ++this.tableIndex;
    const old = this.kv.get(id);
    this.kv.set(id, { value, createIndex: old?.createIndex ?? index, modifyIndex: index });
    this.wake();
  }

  delete(key: string): void {
    this.kv.delete(FakeConsul.id(key));
    this.tableIndex++;
    this.wake();
  }

  /** As after a snapshot restore: the key's index goes backwards, and watchers wake. */
  lowerIndex(key: string, to: number): void {
    const entry = this.kv.get(FakeConsul.id(key))!;
    entry.modifyIndex = to;
    this.wake();
  }

  /** The blocking queries waiting now. */
  get blocked(): number {
    return this.waiters.size;
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  protected unavailable(): FakeAnswer {
    return { status: 500, body: 'rpc error making call: No cluster leader' };
  }

  protected async handle(req: FakeRequest, signal: AbortSignal): Promise<FakeAnswer> {
    if (this.aclToken && req.headers['x-consul-token'] !== this.aclToken) {
      return { status: 403, body: this.aclToken && req.headers['x-consul-token'] ? 'ACL not found' : 'Permission denied' };
    }
    const m = /^\/v1\/kv\/(.+)$/.exec(req.path);
    if (req.method !== 'GET' || !m) return { status: 405, body: 'method not allowed' };
    const dc = req.query.get('dc') || 'dc1';
    if (!this.datacenters.includes(dc)) return { status: 500, body: 'No path to datacenter' };
    const id = FakeConsul.id(m[1], req.query.get('ns') || undefined, req.query.get('partition') || undefined, dc);
    const current = () => (this.zeroIndex ? 0 : (this.kv.get(id)?.modifyIndex ?? this.tableIndex));
    const index = Number(req.query.get('index') ?? 0);
    // A query blocks while nothing is newer than its index
    if (index > 0 && current() <= index) {
      const waitMs = parseWait(req.query.get('wait'));
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, waitMs);
        this.waiters.add(done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
    const entry = this.kv.get(id);
    const headers = { 'X-Consul-Index': String(current()), 'X-Consul-KnownLeader': 'true', 'X-Consul-LastContact': '0' };
    if (!entry) return { status: 404, headers };
    const body = [{ LockIndex: 0, Key: m[1], Flags: 0, Value: entry.value === null ? null : Buffer.from(entry.value).toString('base64'), CreateIndex: entry.createIndex, ModifyIndex: entry.modifyIndex }];
    return { status: 200, headers, body };
  }
}

function parseWait(text: string | null): number {
  const m = /^(\d+)(ms|s|m)$/.exec(text ?? '');
  if (!m) return 300_000;
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000 }[m[2] as 'ms' | 's' | 'm'];
}
