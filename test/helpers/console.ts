// The web console's API as a test sees it: the real server with its console serving a fixture
// front end (a temp dist/console), and plain HTTP requests to it with any Host, Origin, cookie or
// token, read back whole (status, headers, body) or as a stream of Server-Sent Events.
//
//   const server = await startConsoleServer();
//   const r = await api(server, 'GET', '/api/v1/apps', { token: server.operatorToken });
//   const s = await signIn(server);            // { cookie, csrf }
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocket } from 'ws';
import { startServer, type StartServerOptions, type TestServer } from './server.js';
import { withDeadline } from './run.js';

const dirs = new Set<string>();

/** A built front end's shape: index.html and one hashed asset. */
export const FIXTURE_INDEX = '<!doctype html><html><head><title>console fixture</title><script src="/assets/app-0123abcd.js"></script></head><body></body></html>\n';
export const FIXTURE_ASSET = `export const x = ${JSON.stringify('console '.repeat(500))};\n`;

export function consoleFixture(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-console-fixture-'));
  dirs.add(dir);
  mkdirSync(path.join(dir, 'assets'));
  writeFileSync(path.join(dir, 'index.html'), FIXTURE_INDEX);
  writeFileSync(path.join(dir, 'assets', 'app-0123abcd.js'), FIXTURE_ASSET);
  return dir;
}

/** The server with its console on the fixture (or on `dir`; a missing one: the front end not built). */
export async function startConsoleServer(opts: StartServerOptions & { consoleDir?: string } = {}): Promise<TestServer> {
  const dir = opts.consoleDir ?? consoleFixture();
  return startServer({ ...opts, args: ['--console-dir', dir, ...(opts.args ?? [])] });
}

export function removeConsoleFixtures(): void {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

export interface ApiOptions {
  token?: string;
  cookie?: string;
  csrf?: string;
  origin?: string;
  /** The Host header (default localhost:<port>). */
  host?: string;
  body?: unknown;
  /** A raw body, sent as is. */
  raw?: Buffer | string;
  headers?: Record<string, string>;
}

export interface ApiResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
  /** The body as JSON (undefined when it is not). */
  json: any;
}

export function request(server: TestServer, method: string, urlPath: string, opts: ApiOptions = {}): Promise<ApiResponse> {
  const payload = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  return withDeadline(
    new Promise<ApiResponse>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.httpPort, method, path: urlPath, headers: headersOf(server, opts, payload), agent: false },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const body = Buffer.concat(chunks);
            const text = body.toString();
            let json: unknown;
            try {
              json = JSON.parse(text);
            } catch {
              json = undefined;
            }
            resolve({ status: res.statusCode!, headers: res.headers, body, text, json });
          });
          res.on('error', reject);
        },
      );
      // The server reads a refused body to its end before it answers (a 413 is no reset): any
      // error here is a real one.
      req.on('error', reject);
      req.end(payload);
    }),
    15_000,
    `${method} ${urlPath}`,
  );
}

/** An API call; `token` goes as Authorization: Bearer. */
export const api = request;

function headersOf(server: TestServer, opts: ApiOptions, payload: Buffer | string | undefined): Record<string, string> {
  const h: Record<string, string> = { Host: opts.host ?? `localhost:${server.httpPort}`, ...opts.headers };
  if (opts.token !== undefined) h.Authorization = `Bearer ${opts.token}`;
  if (opts.cookie !== undefined) h.Cookie = opts.cookie;
  if (opts.csrf !== undefined) h['X-CSRF-Token'] = opts.csrf;
  if (opts.origin !== undefined) h.Origin = opts.origin;
  if (payload !== undefined) {
    h['Content-Type'] ??= 'application/json';
    h['Content-Length'] = String(Buffer.byteLength(payload));
  }
  return h;
}

export interface SignedIn {
  /** The Cookie header to send: wp_console=<id>. */
  cookie: string;
  csrf: string;
  expiresAt: number;
  setCookie: string;
}

export async function signIn(server: TestServer, token = server.operatorToken): Promise<SignedIn> {
  const r = await request(server, 'POST', '/api/v1/session', { body: { token } });
  if (r.status !== 200) throw new Error(`sign-in failed: ${r.status} ${r.text}`);
  const setCookie = ([] as string[]).concat(r.headers['set-cookie'] ?? [])[0] ?? '';
  return { cookie: setCookie.split(';')[0], csrf: r.json.csrf as string, expiresAt: r.json.expiresAt as number, setCookie };
}

export interface SseEvent {
  event: string;
  id?: string;
  data: any;
}

/** An open event stream: its events as they come, until closed. */
export interface EventReader {
  status: number;
  headers: IncomingHttpHeaders;
  events: SseEvent[];
  /** Resolves when `n` events matching `pick` arrived (fails after the deadline). */
  waitFor(pick: (e: SseEvent) => boolean, n?: number, timeoutMs?: number): Promise<SseEvent[]>;
  ended: Promise<void>;
  close(): void;
}

const readers = new Set<EventReader>();

export function openEvents(server: TestServer, urlPath: string, opts: ApiOptions = {}): Promise<EventReader> {
  return withDeadline(
    new Promise<EventReader>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: server.httpPort, method: 'GET', path: urlPath, headers: headersOf(server, opts, undefined), agent: false }, (res) => {
        const events: SseEvent[] = [];
        let buffer = '';
        let endedResolve!: () => void;
        const ended = new Promise<void>((r) => (endedResolve = r));
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffer += chunk;
          let i: number;
          while ((i = buffer.indexOf('\n\n')) >= 0) {
            const record = buffer.slice(0, i);
            buffer = buffer.slice(i + 2);
            const e: Partial<SseEvent> & { dataText?: string } = {};
            for (const line of record.split('\n')) {
              if (line.startsWith(':')) continue;
              const [field, ...rest] = line.split(': ');
              const value = rest.join(': ');
              if (field === 'event') e.event = value;
              else if (field === 'id') e.id = value;
              else if (field === 'data') e.dataText = value;
            }
            if (e.event === undefined && e.dataText === undefined) continue;
            events.push({ event: e.event ?? 'message', id: e.id, data: e.dataText === undefined ? undefined : JSON.parse(e.dataText) });
          }
        });
        res.on('end', endedResolve);
        res.on('close', endedResolve);
        const reader: EventReader = {
          status: res.statusCode!,
          headers: res.headers,
          events,
          ended,
          async waitFor(pick, n = 1, timeoutMs = 10_000) {
            const deadline = Date.now() + timeoutMs;
            for (;;) {
              const found = events.filter(pick);
              if (found.length >= n) return found;
              if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} event(s); got: ${JSON.stringify(events).slice(-2000)}`);
              await new Promise((r) => setTimeout(r, 20));
            }
          },
          close() {
            req.destroy();
            readers.delete(reader);
          },
        };
        readers.add(reader);
        resolve(reader);
      });
      req.on('error', reject);
      req.end();
    }),
    10_000,
    `the event stream ${urlPath}`,
  );
}

export function closeEventReaders(): void {
  for (const r of readers) r.close();
  readers.clear();
}

/** A WebSocket to /api/v1/exec, recording what comes back: text messages, stdout and stderr apart, the close. */
export interface ExecSocket {
  ws: WebSocket;
  /** The HTTP status when the upgrade was refused (then nothing else happens). */
  refused?: number;
  messages: Array<Record<string, any>>;
  stdout(): string;
  stderr(): string;
  closed: Promise<{ code: number; reason: string }>;
  send(message: Record<string, unknown>): void;
  input(text: string): void;
  waitFor(pick: (s: ExecSocket) => boolean, what: string, timeoutMs?: number): Promise<void>;
}

const sockets = new Set<WebSocket>();

export async function openExec(server: TestServer, opts: { token?: string; cookie?: string; origin?: string } = {}): Promise<ExecSocket> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
  if (opts.cookie) headers.Cookie = opts.cookie;
  const ws = new WebSocket(`ws://localhost:${server.httpPort}/api/v1/exec`, { headers, ...(opts.origin && { origin: opts.origin }) });
  sockets.add(ws);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const s: ExecSocket = {
    ws,
    messages: [],
    stdout: () => Buffer.concat(out).toString(),
    stderr: () => Buffer.concat(err).toString(),
    closed: new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    send: (m) => ws.send(JSON.stringify(m)),
    input: (text) => ws.send(Buffer.from(text), { binary: true }),
    async waitFor(pick, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pick(s)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; messages ${JSON.stringify(s.messages)}, stdout ${JSON.stringify(s.stdout().slice(-500))}, stderr ${JSON.stringify(s.stderr().slice(-300))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return void s.messages.push(JSON.parse(data.toString()) as Record<string, any>);
    (data[0] === 2 ? err : out).push(data.subarray(1));
  });
  ws.on('error', () => undefined);
  await withDeadline(
    new Promise<void>((resolve) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => {
        s.refused = res.statusCode;
        res.resume();
        resolve();
      });
      ws.once('close', () => resolve());
    }),
    10_000,
    'the exec WebSocket to open',
  );
  return s;
}

export function closeExecSockets(): void {
  for (const ws of sockets) ws.terminate();
  sockets.clear();
}
