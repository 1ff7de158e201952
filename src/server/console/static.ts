// The console's front end, from dist/console/ (built by `npm run build`): /assets/* with a year's
// immutable caching (their names carry their content's hash), every other path with index.html
// (the page's own routes), revalidated each time (no-cache, with an ETag). Compressed with brotli
// or gzip per Accept-Encoding: a precompressed `<file>.br` / `<file>.gz` beside it when the build
// made one, else compressed here once and kept in memory (bounded). No index.html: 503 saying
// to build it; the API works without it.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.json', '.map', '.svg', '.txt']);
/** Compressed copies kept in memory at most, in all. */
const MAX_CACHED_BYTES = 64 * 1024 * 1024;
/** A safe asset path: names of letters, digits, '.', '_', '-' (none starting with '.'), in folders. */
const ASSET_PATH = /^\/assets\/(?:[A-Za-z0-9_-][A-Za-z0-9._-]*\/)*[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

export type Encoding = 'br' | 'gzip' | 'identity';

interface Prepared {
  mtimeMs: number;
  size: number;
  etag: string;
  type: string;
  bodies: Partial<Record<Encoding, Buffer>>;
  weight: number;
}

export class StaticFiles {
  private readonly cache = new Map<string, Prepared>();
  private cachedBytes = 0;

  constructor(readonly dir: string) {}

  async serve(req: IncomingMessage, res: ServerResponse, pathname: string): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'the console serves its pages with GET only\n', { Allow: 'GET, HEAD' });
    const asset = pathname.startsWith('/assets/');
    if (asset && !ASSET_PATH.test(pathname)) return text(res, 404, 'no such file\n');
    const file = asset ? path.join(this.dir, ...pathname.split('/').filter(Boolean)) : path.join(this.dir, 'index.html');
    const prepared = await this.prepare(file);
    if (!prepared) {
      if (asset) return text(res, 404, 'no such file\n');
      return text(res, 503, `the console's front end is not built (no ${file}): run npm run build; the API under /api/v1/ works without it\n`);
    }
    const headers: Record<string, string> = {
      'Content-Type': prepared.type,
      'Cache-Control': asset ? 'public, max-age=31536000, immutable' : 'no-cache',
      ETag: prepared.etag,
      Vary: 'Accept-Encoding',
    };
    if (req.headers['if-none-match'] === prepared.etag) {
      res.writeHead(304, headers);
      return void res.end();
    }
    const encoding = chooseEncoding(req.headers['accept-encoding'], Object.keys(prepared.bodies) as Encoding[]);
    const body = prepared.bodies[encoding]!;
    if (encoding !== 'identity') headers['Content-Encoding'] = encoding;
    headers['Content-Length'] = String(body.length);
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  /** The file and its compressed forms, from memory while the file is unchanged; undefined when absent. */
  private async prepare(file: string): Promise<Prepared | undefined> {
    let st;
    try {
      st = await stat(file);
    } catch {
      return undefined;
    }
    if (!st.isFile()) return undefined;
    const known = this.cache.get(file);
    if (known && known.mtimeMs === st.mtimeMs && known.size === st.size) return known;
    const raw = await readFile(file);
    const ext = path.extname(file).toLowerCase();
    const bodies: Prepared['bodies'] = { identity: raw };
    if (COMPRESSIBLE.has(ext)) {
      bodies.br = (await readIfPresent(`${file}.br`)) ?? brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9, [zlib.BROTLI_PARAM_SIZE_HINT]: raw.length } });
      bodies.gzip = (await readIfPresent(`${file}.gz`)) ?? gzipSync(raw, { level: 9 });
    }
    const prepared: Prepared = {
      mtimeMs: st.mtimeMs,
      size: st.size,
      etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 27)}"`,
      type: TYPES[ext] ?? 'application/octet-stream',
      bodies,
      weight: Object.values(bodies).reduce((n, b) => n + b.length, 0),
    };
    if (known) this.forget(file, known);
    if (this.cachedBytes + prepared.weight > MAX_CACHED_BYTES) {
      for (const [f, p] of this.cache) this.forget(f, p);
    }
    this.cache.set(file, prepared);
    this.cachedBytes += prepared.weight;
    return prepared;
  }

  private forget(file: string, p: Prepared): void {
    this.cache.delete(file);
    this.cachedBytes -= p.weight;
  }
}

/** brotli, then gzip, when the client takes them (q > 0) and the file has them; else as is. Pure. */
export function chooseEncoding(header: string | string[] | undefined, available: readonly Encoding[]): Encoding {
  const accepted = new Map<string, number>();
  for (const part of (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => /^\s*q=([0-9.]+)\s*$/.exec(p)).find(Boolean);
    accepted.set(name, q ? Number(q[1]) : 1);
  }
  const takes = (e: string) => (accepted.get(e) ?? (e === 'identity' ? 1 : accepted.get('*') ?? 0)) > 0;
  for (const e of ['br', 'gzip'] as const) if (available.includes(e) && takes(e)) return e;
  return 'identity';
}

async function readIfPresent(file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file);
  } catch {
    return undefined;
  }
}

function text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(body);
}
