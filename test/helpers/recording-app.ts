// A real HTTP app on 127.0.0.1 for the ingress's hardening tests: it records every request it
// parsed (method, target, raw headers, body) and every parse error of its own parser, and answers
// each request, once its body is read, with one line naming it. /hold waits until released.
// With `upgrades`, `Upgrade: websocket` on /ws is switched (101) and echoes bytes, and any other
// upgrade is answered 200 on a kept connection; without, an upgrade is an ordinary request to
// it (Node's server then parses whatever follows as the next request, as the audit's app.js).
import http from 'node:http';
import type { Socket } from 'node:net';
import { gate, listenApp } from './url-apps.js';

export interface Seen {
  method: string;
  url: string;
  headers: string[];
  body: string;
  /** The app's TCP connection it came on (its remote port). */
  connection: number;
}

export interface RecordingApp {
  port: number;
  requests: Seen[];
  /** Parse errors of the app's own parser, by code (HPE_INVALID_EOF_STATE: a request cut short). */
  parseErrors: string[];
  /** Upgraded connections the app holds, as its sockets. */
  upgraded: Set<Socket>;
  /** Lets the held requests (/hold) finish. */
  release(): void;
  close(): Promise<void>;
}

export async function startRecordingApp(opts: { upgrades?: boolean } = {}): Promise<RecordingApp> {
  const sockets = new Set<Socket>();
  const held = gate();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const seen = { method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, body: Buffer.concat(chunks).toString('latin1'), connection: req.socket.remotePort ?? 0 };
      app.requests.push(seen);
      const answer = () => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end(`seen ${seen.method} ${seen.url}\n`);
      };
      if (req.url === '/hold') void held.passed().then(answer);
      else answer();
    });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    app.parseErrors.push(err.code ?? err.message);
    socket.destroy();
  });
  if (opts.upgrades) server.on('upgrade', (req, socket: Socket, head: Buffer) => {
    app.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.rawHeaders, body: '', connection: socket.remotePort ?? 0 });
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || !req.url?.startsWith('/ws')) {
      // An app that knows no upgrades answers as to any request, and keeps the connection.
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nno upgrade\r\n');
      return;
    }
    app.upgraded.add(socket);
    socket.once('close', () => app.upgraded.delete(socket));
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    if (head.length > 0) socket.write(head);
    socket.on('data', (c: Buffer) => socket.write(c));
    socket.on('end', () => socket.end()); // the server's socket is half-open: its peer's end is not ours
    socket.on('error', () => undefined);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  const app: RecordingApp = {
    port: await listenApp(server), // closed by cleanUpUrlTest, if not before
    requests: [],
    parseErrors: [],
    upgraded: new Set(),
    release: held.release,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return app;
}
