// The Registry HTTP API v2 (OCI distribution), kept in one place: one small function per call.
// Auth follows the registry's WWW-Authenticate challenge: Basic with the stored credentials, or
// a Bearer token from the realm it names (anonymous when we have no credentials), per scope.
import { ImageError } from '../store.js';
import { type Challenge, type Credentials, findCredentials, parseChallenge } from './auth.js';

export interface RegistryOptions {
  /** Plain HTTP (a registry on 127.0.0.1 without TLS). */
  insecure: boolean;
  env?: NodeJS.ProcessEnv;
}

type Actions = 'pull' | 'pull,push';

/** Connection-level failures worth one more try on a new connection. */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

function causeOf(err: unknown): { code?: string; message?: string } {
  return (err as { cause?: { code?: string; message?: string } }).cause ?? {};
}

/** Blobs larger than this go up in chunks of it (and progress is told per chunk). */
export const UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024;

interface Call {
  method: string;
  repository: string;
  /** After /v2/<repository>/, or an absolute URL (an upload's Location). */
  path: string;
  actions: Actions;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Statuses that are answers, not failures. */
  ok: number[];
}

export class RegistryClient {
  private readonly base: string;
  private credentials?: Credentials | null;
  private challenge?: Challenge;
  private readonly tokens = new Map<string, string>();

  constructor(
    readonly registry: string,
    private readonly options: RegistryOptions,
  ) {
    // Docker Hub's API host is not its name.
    const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
    this.base = `${options.insecure ? 'http' : 'https'}://${host}`;
  }

  getManifest(repository: string, reference: string, accept: string): Promise<Response> {
    return this.call({ method: 'GET', repository, path: `manifests/${reference}`, actions: 'pull', headers: { Accept: accept }, ok: [200] });
  }

  async putManifest(repository: string, reference: string, mediaType: string, bytes: Buffer): Promise<void> {
    await this.call({ method: 'PUT', repository, path: `manifests/${reference}`, actions: 'pull,push', headers: { 'Content-Type': mediaType }, body: bytes, ok: [201, 200] });
  }

  getBlob(repository: string, digest: string): Promise<Response> {
    return this.call({ method: 'GET', repository, path: `blobs/${digest}`, actions: 'pull', ok: [200] });
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.call({ method: 'HEAD', repository, path: `blobs/${digest}`, actions: 'pull', ok: [200, 404] });
    return res.status === 200;
  }

  /** Cross-repository mount: true when the registry linked it, false when it wants an upload. */
  async mountBlob(repository: string, digest: string, fromRepository: string): Promise<boolean> {
    const query = `blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(fromRepository)}`;
    const res = await this.call({ method: 'POST', repository, path: query, actions: 'pull,push', ok: [201, 202] });
    if (res.status === 202) await this.cancelUpload(repository, res);
    return res.status === 201;
  }

  /**
   * An upload: POST for a session, then the blob in chunks (PATCH, each reported to `progress`)
   * and a PUT with its digest; a blob of one chunk or less goes whole in the PUT.
   */
  async uploadBlob(repository: string, digest: string, data: Buffer, progress?: (sent: number, total: number) => void): Promise<void> {
    const session = await this.call({ method: 'POST', repository, path: 'blobs/uploads/', actions: 'pull,push', ok: [202] });
    let location = this.location(session, repository);
    let sent = 0;
    if (data.length > UPLOAD_CHUNK_BYTES) {
      while (sent < data.length) {
        const chunk = data.subarray(sent, Math.min(sent + UPLOAD_CHUNK_BYTES, data.length));
        const res = await this.call({
          method: 'PATCH',
          repository,
          path: location.href,
          actions: 'pull,push',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${sent}-${sent + chunk.length - 1}` },
          body: chunk,
          ok: [202],
        });
        sent += chunk.length;
        progress?.(sent, data.length);
        location = this.location(res, repository);
      }
    }
    location.searchParams.set('digest', digest);
    await this.call({
      method: 'PUT',
      repository,
      path: location.href,
      actions: 'pull,push',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: sent === 0 ? data : Buffer.alloc(0),
      ok: [201, 204],
    });
    if (sent === 0) progress?.(data.length, data.length);
  }

  private async cancelUpload(repository: string, session: Response): Promise<void> {
    try {
      await this.call({ method: 'DELETE', repository, path: this.location(session, repository).href, actions: 'pull,push', ok: [204, 202, 200, 404, 405] });
    } catch {
      // an upload session left open expires on its own
    }
  }

  private location(res: Response, repository: string): URL {
    const location = res.headers.get('location');
    if (!location) throw new ImageError(`${this.where(repository)}: the registry started an upload without a Location`);
    return new URL(location, this.base);
  }

  private where(repository: string): string {
    return `registry ${this.registry}, repository ${repository}`;
  }

  /** One call, authenticated as the registry asks; a refusal says what the registry answered. */
  private async call(c: Call): Promise<Response> {
    const url = c.path.startsWith('http') ? c.path : `${this.base}/v2/${c.repository}/${c.path}`;
    let res = await this.send(url, c, this.authorization(c));
    if (res.status === 401) {
      this.challenge = parseChallenge(res.headers.get('www-authenticate')) ?? this.challenge;
      await res.body?.cancel();
      res = await this.send(url, c, await this.authenticate(c));
    }
    if (!c.ok.includes(res.status)) throw await this.refusal(c, res);
    return res;
  }

  private async send(url: string, c: Call, authorization: string | undefined): Promise<Response> {
    const request = () =>
      fetch(url, {
        method: c.method,
        headers: { ...c.headers, ...(authorization ? { Authorization: authorization } : {}) },
        body: c.body,
        redirect: 'follow',
      });
    try {
      try {
        return await request();
      } catch (err) {
        // A kept-alive connection the registry (or a proxy before it) closed as we reused it:
        // once more on a fresh one; every body here is a buffer that can be sent again.
        if (!RESET_CODES.has(causeOf(err).code ?? '')) throw err;
        return await request();
      }
    } catch (err) {
      const cause = causeOf(err);
      const why = cause?.code ?? cause?.message ?? (err as Error).message;
      const hint = !this.options.insecure && /EPROTO|ERR_SSL|wrong version/i.test(`${why} ${cause?.message}`) ? ' (a plain-HTTP registry? pass --insecure)' : '';
      throw new ImageError(`${this.where(c.repository)}: cannot reach ${this.base}: ${why}${hint}`);
    }
  }

  private creds(): Credentials | undefined {
    if (this.credentials === undefined) this.credentials = findCredentials(this.registry, this.options.env) ?? null;
    return this.credentials ?? undefined;
  }

  private basic(): string | undefined {
    const creds = this.creds();
    return creds && `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
  }

  private scope(c: Call): string {
    return `repository:${c.repository}:${c.actions}`;
  }

  private authorization(c: Call): string | undefined {
    if (this.challenge?.scheme === 'basic') return this.basic();
    const token = this.tokens.get(this.scope(c));
    return token && `Bearer ${token}`;
  }

  private async authenticate(c: Call): Promise<string | undefined> {
    const challenge = this.challenge;
    if (!challenge) return undefined;
    if (challenge.scheme === 'basic') {
      if (!this.creds()) throw new ImageError(`${this.where(c.repository)}: the registry asks for a login and none is stored (log in with podman login / docker login, or set REGISTRY_AUTH_FILE)`);
      return this.basic();
    }
    const realm = new URL(challenge.realm);
    if (challenge.service) realm.searchParams.set('service', challenge.service);
    realm.searchParams.set('scope', this.scope(c));
    const basic = this.basic();
    let res: Response;
    try {
      res = await fetch(realm, { headers: basic ? { Authorization: basic } : {} });
    } catch (err) {
      throw new ImageError(`${this.where(c.repository)}: cannot reach its token service ${realm.origin}: ${(err as Error).message}`);
    }
    if (!res.ok) throw await this.refusal(c, res, `its token service ${realm.origin}`);
    const body = (await res.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new ImageError(`${this.where(c.repository)}: its token service ${realm.origin} answered without a token`);
    this.tokens.set(this.scope(c), token);
    return `Bearer ${token}`;
  }

  private async refusal(c: Call, res: Response, who = 'the registry'): Promise<ImageError> {
    let detail = '';
    try {
      const text = await res.text();
      const errors = (JSON.parse(text) as { errors?: Array<{ code?: string; message?: string }> }).errors;
      detail = errors?.map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ') ?? text.slice(0, 200);
    } catch {
      // not JSON: the status says it
    }
    const creds = this.creds();
    const login =
      res.status === 401 || res.status === 403
        ? creds
          ? ` (as ${creds.username}, from ${creds.file})`
          : ' (anonymously: no login stored for it; podman login / docker login, or REGISTRY_AUTH_FILE)'
        : '';
    return new ImageError(
      `${this.where(c.repository)}: ${c.method} ${c.path.startsWith('http') ? 'upload' : c.path.split('?')[0]}: ${who} answered ${res.status} ${res.statusText}${detail ? `: ${detail}` : ''}${login}`,
    );
  }
}
