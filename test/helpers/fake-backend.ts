// What the loopback fakes of Vault, Kubernetes and Consul share: an http or https server on
// 127.0.0.1 (https with a test CA, optionally asking for a client certificate), a log of the
// requests it got, and the faults a source must survive: down (the port closed, the same port
// back up later), slow (answers held back), flapping (every other answer a 503).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface FakeRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The subject CN of the client certificate, when one was presented. */
  clientCn?: string;
}

export interface FakeAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface FakeTls {
  cert: string;
  key: string;
  /** Ask for and verify a client certificate signed by this CA. */
  clientCa?: string;
}

export abstract class FakeBackend {
  readonly requests: FakeRequest[] = [];
  /** Each answer waits this long first (a slow backend). */
  delayMs = 0;
  /** Every other answer is a 503 (a flapping backend). */
  flapping = false;
  private flap = 0;
  private server!: http.Server;
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(private readonly tls?: FakeTls) {}

  get url(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  /** The answer to one request, from the backend's published API. */
  protected abstract handle(req: FakeRequest, signal: AbortSignal): Promise<FakeAnswer> | FakeAnswer;

  /** What a 503 looks like for this backend. */
  protected unavailable(): FakeAnswer {
    return { status: 503, body: { errors: ['unavailable'] } };
  }

  async start(): Promise<this> {
    const listener = (req: http.IncomingMessage, res: http.ServerResponse) => void this.serve(req, res);
    this.server = this.tls
      ? https.createServer({ cert: this.tls.cert, key: this.tls.key, ca: this.tls.clientCa, requestCert: !!this.tls.clientCa, rejectUnauthorized: !!this.tls.clientCa }, listener)
      : http.createServer(listener);
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.server.on('secureConnection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** The backend goes down: the port closes and every open connection is cut. */
  async down(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Back up on the same port. */
  async up(): Promise<void> {
    await this.start();
  }

  async close(): Promise<void> {
    if (this.server.listening) await this.down();
  }

  count(method: string, path: string | RegExp): number {
    return this.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path))).length;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const url = new URL(req.url ?? '/', 'http://fake');
    const peer = (req.socket as import('node:tls').TLSSocket).getPeerCertificate?.();
    const record: FakeRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
      clientCn: peer && 'subject' in peer && peer.subject ? String(peer.subject.CN) : undefined,
    };
    this.requests.push(record);
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (gone.signal.aborted) return;
    const answer = this.flapping && this.flap++ % 2 === 1 ? this.unavailable() : await this.handle(record, gone.signal);
    if (gone.signal.aborted) return;
    const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'Content-Type': typeof answer.body === 'string' ? 'text/plain' : 'application/json', ...answer.headers });
    res.end(text);
  }
}
