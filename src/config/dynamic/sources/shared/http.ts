// The small HTTP client the Vault, Kubernetes and Consul sources share: node's own http/https
// with a keep-alive agent per source (its TLS settings: a custom CA, a client certificate, a
// server name), a deadline on every request and the caller's abort signal. Errors are one line
// that names the backend and what to do, never a stack.
import { readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { SourceSettingsError } from '../../source.js';
import { readSettingFile } from './settings.js';

export interface TlsFiles {
  caFile?: string;
  caPath?: string;
  certFile?: string;
  keyFile?: string;
  serverName?: string;
  skipVerify?: boolean;
}

/** The agent options of `files`, read now (a wrong path is a settings error). `names` are the
 * settings' names for the messages (ca_cert or VAULT_CACERT…). */
export function tlsOptions(files: TlsFiles, names: Partial<Record<keyof TlsFiles, string>> = {}): https.AgentOptions {
  const options: https.AgentOptions = {};
  const ca: string[] = [];
  if (files.caFile) ca.push(readSettingFile(files.caFile, names.caFile ?? 'the CA file'));
  if (files.caPath) ca.push(...readCaDir(files.caPath, names.caPath ?? 'the CA directory'));
  if (ca.length > 0) options.ca = ca;
  if (files.certFile || files.keyFile) {
    if (!files.certFile || !files.keyFile) {
      throw new SourceSettingsError(`a client certificate needs both ${names.certFile ?? 'the certificate'} and ${names.keyFile ?? 'the key'}`);
    }
    options.cert = readSettingFile(files.certFile, names.certFile ?? 'the client certificate');
    options.key = readSettingFile(files.keyFile, names.keyFile ?? 'the client key');
  }
  if (files.serverName) options.servername = files.serverName;
  if (files.skipVerify) options.rejectUnauthorized = false;
  return options;
}

/** Every PEM certificate file in `dir`, as Vault's and Consul's ca_path load them. */
function readCaDir(dir: string, what: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    throw new SourceSettingsError(`cannot read ${what} ${dir}: ${(err as NodeJS.ErrnoException).code}`);
  }
  const pems = names
    .map((n) => path.join(dir, n))
    .filter((f) => statSync(f, { throwIfNoEntry: false })?.isFile())
    .map((f) => readSettingFile(f, what))
    .filter((text) => text.includes('-----BEGIN CERTIFICATE-----'));
  if (pems.length === 0) throw new SourceSettingsError(`${what} ${dir} holds no PEM certificate`);
  return pems;
}

export type RequestFailure = 'timeout' | 'aborted' | 'network' | 'tls' | 'response';

export class RequestError extends Error {
  constructor(
    readonly kind: RequestFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpRequest {
  method?: string;
  /** Under the base URL's path; query values that are undefined or empty are left out. */
  path: string;
  query?: Record<string, string | undefined>;
  headers?: Record<string, string | undefined>;
  body?: unknown;
  signal?: AbortSignal;
  /** Instead of the client's own (a Consul blocking query waits longer). */
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The body as JSON, undefined when it is not. */
  json(): unknown;
}

/** A backend's answer larger than this is refused: a config value is never this big. */
const MAX_BODY = 8 << 20;

export interface HttpClientOptions {
  tls?: https.AgentOptions;
  timeoutMs: number;
  /** The backend, for messages: "Vault", "the Kubernetes API server". */
  what: string;
  /** What to set when the server's certificate is not trusted: "ca_cert (VAULT_CACERT)". */
  caHint: string;
}

export class HttpClient {
  readonly base: URL;
  private readonly agent: http.Agent;
  private readonly transport: typeof http | typeof https;

  constructor(
    address: string,
    private readonly options: HttpClientOptions,
  ) {
    this.base = parseAddress(address, options.what);
    const secure = this.base.protocol === 'https:';
    this.transport = secure ? https : http;
    this.agent = secure ? new https.Agent({ keepAlive: true, ...options.tls }) : new http.Agent({ keepAlive: true });
  }

  request(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + req.path, this.base);
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const body = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
    const headers: Record<string, string> = { Accept: 'application/json' };
    for (const [k, v] of Object.entries(req.headers ?? {})) if (v !== undefined) headers[k] = v;
    if (body) headers['Content-Type'] = 'application/json';
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs;
    return new Promise((resolve, reject) => {
      if (req.signal?.aborted) return reject(new RequestError('aborted', `the request to ${this.options.what} was cancelled`));
      const out = this.transport.request(url, { method: req.method ?? 'GET', headers, agent: this.agent });
      const fail = (err: RequestError) => {
        cleanup();
        out.destroy(err);
        reject(err);
      };
      const timer = setTimeout(() => fail(new RequestError('timeout', `${this.options.what} at ${this.base.host} did not answer within ${seconds(timeoutMs)}`)), timeoutMs);
      const onAbort = () => fail(new RequestError('aborted', `the request to ${this.options.what} was cancelled`));
      const cleanup = () => {
        clearTimeout(timer);
        req.signal?.removeEventListener('abort', onAbort);
      };
      req.signal?.addEventListener('abort', onAbort, { once: true });
      out.on('error', (err) => {
        cleanup();
        reject(err instanceof RequestError ? err : this.describe(err as NodeJS.ErrnoException));
      });
      out.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BODY) fail(new RequestError('response', `${this.options.what} sent an answer larger than ${MAX_BODY >> 20} MB`));
          else chunks.push(chunk);
        });
        res.on('error', (err) => {
          cleanup();
          reject(err instanceof RequestError ? err : this.describe(err as NodeJS.ErrnoException));
        });
        res.on('end', () => {
          cleanup();
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => parseJson(text) });
        });
      });
      out.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private describe(err: NodeJS.ErrnoException): RequestError {
    const code = err.code ?? '';
    const where = `${this.options.what} at ${this.base.host}`;
    if (TLS_UNTRUSTED.has(code)) {
      return new RequestError('tls', `${where} presented a certificate this entrypoint does not trust (${code}): set ${this.options.caHint} to its CA`);
    }
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      return new RequestError('tls', `${where} presented a certificate for another name (${code}): connect by a name the certificate holds, or set the TLS server name`);
    }
    if (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO') {
      return new RequestError('tls', `TLS with ${where} failed (${code}: ${oneLine(err.message)})`);
    }
    if (code === 'ECONNREFUSED') return new RequestError('network', `${where} refused the connection (ECONNREFUSED): is it running?`);
    if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new RequestError('network', `cannot resolve ${this.base.hostname} (${code})`);
    return new RequestError('network', `the connection to ${where} failed (${code || oneLine(err.message)})`);
  }
}

export const TLS_UNTRUSTED: ReadonlySet<string> = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_UNTRUSTED',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
]);

function parseAddress(address: string, what: string): URL {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    throw new SourceSettingsError(`the address of ${what} is not a URL: ${JSON.stringify(address)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new SourceSettingsError(`the address of ${what} must be http:// or https://, not ${url.protocol}`);
  }
  return url;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function oneLine(text: string, max = 300): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

export function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
