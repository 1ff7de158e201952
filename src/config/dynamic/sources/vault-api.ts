// Vault's HTTP API as the vault source uses it: /v1/<path> with X-Vault-Token and
// X-Vault-Namespace; errors as Vault words them ({"errors": [...]}, {"warnings": [...]}).
import type { HttpClient } from './shared/http.js';
import { oneLine } from './shared/http.js';

export interface VaultAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
  /** Vault's `errors`, then its `warnings`, as one line ("" when it gave none). */
  says: string;
}

export class VaultApi {
  constructor(
    readonly client: HttpClient,
    private readonly namespace: string | undefined,
  ) {}

  async call(
    method: string,
    path: string,
    { token, body, signal }: { token?: string; body?: unknown; signal?: AbortSignal },
  ): Promise<VaultAnswer> {
    const res = await this.client.request({
      method,
      path: `/v1/${encodePath(path)}`,
      headers: { 'X-Vault-Token': token, 'X-Vault-Namespace': this.namespace, 'X-Vault-Request': 'true' },
      body,
      signal,
    });
    const json = res.json();
    const parsed = json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : undefined;
    return { status: res.status, body: parsed, says: says(parsed, res.text) };
  }
}

/** A Vault path as a URL path: each segment escaped, the slashes kept. */
function encodePath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

function says(body: Record<string, unknown> | undefined, text: string): string {
  if (!body) return oneLine(text, 200);
  const lines = [...strings(body.errors), ...strings(body.warnings)];
  return oneLine(lines.join('; '), 300);
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** "(403: permission denied)" or "(404)" */
export function answerText(a: VaultAnswer): string {
  return a.says ? `(${a.status}: ${a.says})` : `(${a.status})`;
}

export function numberField(obj: unknown, key: string): number {
  const v = (obj as Record<string, unknown> | undefined)?.[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}
