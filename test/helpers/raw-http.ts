// Raw HTTP/1.1 over TCP for the ingress's tests: bytes exactly as written (no client library
// fixing them up), and what came back.
import net from 'node:net';
import { withDeadline } from './run.js';

export interface RawAnswer {
  /** Everything the server sent, as latin1 text. */
  text: string;
  /** The status of the first response, or 0 when none came. */
  status: number;
}

/**
 * Sends `bytes` and reads until `responses` whole responses came (framed by Content-Length or
 * chunked; none of a body for HEAD), the server closed, or nothing more came for a while after
 * something did. The connection is not half-closed: Node's server would abort the request.
 */
export function rawExchange(port: number, bytes: Buffer | string, opts: { localAddress?: string; timeoutMs?: number; responses?: number } = {}): Promise<RawAnswer> {
  const raw = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes;
  const isHead = raw.subarray(0, 5).toString('latin1') === 'HEAD ';
  return withDeadline(
    new Promise<RawAnswer>((resolve) => {
      const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress });
      const chunks: Buffer[] = [];
      let quiet: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(quiet);
        socket.destroy();
        const text = Buffer.concat(chunks).toString('latin1');
        resolve({ text, status: statusOf(text) });
      };
      socket.on('data', (c: Buffer) => {
        chunks.push(c);
        if (countResponses(Buffer.concat(chunks).toString('latin1'), isHead) >= (opts.responses ?? 1)) return done();
        clearTimeout(quiet);
        quiet = setTimeout(done, 1_000);
      });
      socket.on('error', () => undefined);
      socket.on('close', done);
      socket.write(raw);
    }),
    opts.timeoutMs ?? 15_000,
    'the raw exchange to end',
  );
}

/** How many whole responses the text holds. */
function countResponses(text: string, isHead: boolean): number {
  let n = 0;
  let at = 0;
  for (;;) {
    const end = text.indexOf('\r\n\r\n', at);
    if (end < 0) return n;
    const head = text.slice(at, end);
    const status = statusOf(head);
    let next = end + 4;
    if (!isHead && status >= 200 && status !== 204 && status !== 304) {
      const cl = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (cl) next += Number(cl[1]);
      else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
        const last = text.indexOf('\r\n0\r\n\r\n', end);
        if (last < 0) return n;
        next = last + 7;
      } else return n; // delimited by the close
    }
    if (text.length < next) return n;
    if (status >= 200) n++;
    at = next;
  }
}

/** The status of the first final (not 1xx) response in the text; 0 when there is none. */
export function statusOf(text: string): number {
  for (const m of text.matchAll(/(?:^|\r\n\r\n)HTTP\/1\.[01] (\d{3})/g)) if (Number(m[1]) >= 200) return Number(m[1]);
  return 0;
}

/** A connection that stays open: what it received, and whether the server closed it. */
export interface OpenConnection {
  socket: net.Socket;
  received(): string;
  closed: boolean;
}

/** `allowHalfOpen`: the server's end of its side does not end ours (a client that keeps its half open). */
export function openConnection(port: number, opts: { localAddress?: string; allowHalfOpen?: boolean } = {}): Promise<OpenConnection> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress: opts.localAddress, allowHalfOpen: opts.allowHalfOpen });
    const chunks: Buffer[] = [];
    const c: OpenConnection = { socket, received: () => Buffer.concat(chunks).toString('latin1'), closed: false };
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('close', () => (c.closed = true));
    socket.once('connect', () => {
      socket.on('error', () => undefined);
      resolve(c);
    });
    socket.once('error', reject);
  });
}
