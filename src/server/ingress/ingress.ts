// The HTTP ingress of the URL service: a plain HTTP/1.1 server whose requests and upgrades go
// through the tunnels (proxy.ts, upgrade.ts). It binds before the URL service exists (URLs
// carry its port) and takes requests once `serve` hands it the context.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { ListenAddress } from '../listen.js';
import { handleRequest, type IngressContext } from './proxy.js';
import { handleUpgrade } from './upgrade.js';

export class IngressError extends Error {}

export interface Ingress {
  port: number;
  serve(ctx: IngressContext): void;
  /** Stops accepting, and cuts every connection (tunnels are ending anyway). */
  close(): Promise<void>;
}

export async function listenIngress(listen: ListenAddress): Promise<Ingress> {
  const server = http.createServer({
    // Long uploads and streamed responses are the app's business: no overall request timeout.
    requestTimeout: 0,
  });
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nmalformed request\n');
    else socket.destroy();
  });
  const host = listen.host.replace(/^\[|\]$/g, '');
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      reject(
        new IngressError(
          err.code === 'EADDRINUSE'
            ? `cannot listen on ${listen.bind} for HTTP: the address is in use; pass another --http-listen (or off)`
            : `cannot listen on ${listen.bind} for HTTP: ${err.message}`,
        ),
      );
    });
    server.listen(listen.port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    serve(ctx) {
      server.on('request', (req, res) => handleRequest(ctx, req, res));
      server.on('upgrade', (req, socket, head) => void handleUpgrade(ctx, req, socket, head));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}
