// The console API's HTTP basics: errors as `{"error": "..."}` with their status (the server's
// RpcErrors mapped to the HTTP status of the same meaning), JSON answers, and request bodies read
// within their limit (413 past it).
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { SECURITY_HEADERS } from './headers.js';
import { RpcError, Status, toRpcError } from '../rpc/status.js';

/** A request body at most (the contract's 1 MiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const HTTP_STATUS: Partial<Record<Status, number>> = {
  [Status.INVALID_ARGUMENT]: 400,
  [Status.OUT_OF_RANGE]: 400,
  [Status.UNAUTHENTICATED]: 401,
  [Status.PERMISSION_DENIED]: 403,
  [Status.NOT_FOUND]: 404,
  [Status.ALREADY_EXISTS]: 409,
  [Status.FAILED_PRECONDITION]: 409,
  [Status.ABORTED]: 409,
  [Status.RESOURCE_EXHAUSTED]: 503,
  [Status.UNAVAILABLE]: 503,
  [Status.DEADLINE_EXCEEDED]: 504,
};

/** Anything thrown, as the HTTP error to answer with (our own bugs: 500). */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const rpc = err instanceof RpcError ? err : toRpcError(err);
  return new HttpError(HTTP_STATUS[rpc.code] ?? 500, rpc.message);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(text);
}

/** How long, and how many bytes, of a refused body we read and drop before answering anyway. */
export const LINGER_MS = 2_000;
export const LINGER_BYTES = 8 * 1024 * 1024;

export function sendError(res: ServerResponse, err: HttpError): void {
  if (res.headersSent) return void res.destroy();
  if (err.status === 413) return dropBodyThen(res.req, () => sendJson(res, err.status, { error: err.message }));
  sendJson(res, err.status, { error: err.message });
}

/**
 * A body refused part-way is still coming. Answered now, Node closes the connection at once (the
 * request is not complete), with its bytes unread: the kernel then resets it, and a client still
 * sending gets EPIPE or ECONNRESET instead of our 413. So what comes is read and dropped first,
 * and the answer goes once it all came (the connection closes cleanly) or after LINGER_MS or
 * LINGER_BYTES (then it goes as before: a client sending without end is cut off).
 */
function dropBodyThen(req: IncomingMessage, answer: () => void): void {
  if (req.complete) return answer();
  let dropped = 0;
  let answered = false;
  const once = () => {
    if (answered) return;
    answered = true;
    clearTimeout(timer);
    req.off('data', onData);
    answer();
  };
  const timer = setTimeout(once, LINGER_MS);
  timer.unref();
  const onData = (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > LINGER_BYTES) once();
  };
  req.on('data', onData);
  req.once('end', once);
  req.once('close', () => clearTimeout(timer)); // the client went: nobody to answer
  req.resume();
}

/**
 * The body as JSON; 413 past `limit` bytes (its Content-Length alone, or as it arrives), 400 when
 * it is not JSON. Read with listeners, not `for await`: leaving that loop early destroys the
 * request and its socket, and the 413 would go nowhere.
 */
export function readJson(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      done();
      req.pause(); // the rest is the 413's to drop (sendError)
      reject(tooLarge(limit));
    };
    const onEnd = () => {
      done();
      try {
        resolve(parseJson(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        reject(err);
      }
    };
    const onError = (err: Error) => {
      done();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function parseJson(text: string): unknown {
  if (text.trim() === '') throw new HttpError(400, 'the request needs a JSON body');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'the request body is not valid JSON');
  }
}

function tooLarge(limit: number): HttpError {
  return new HttpError(413, `the request body is over ${limit / 1024 / 1024} MiB: send less`);
}

/** A query parameter once (the first), or '' when absent. */
export function param(url: URL, name: string): string {
  return url.searchParams.get(name) ?? '';
}

/** A whole number from the query (absent: undefined); 400 for anything else. */
export function intParam(url: URL, name: string, max: number): number | undefined {
  const text = url.searchParams.get(name);
  if (text === null || text === '') return undefined;
  if (!/^\d+$/.test(text) || Number(text) > max) throw new HttpError(400, `${name} must be a whole number from 0 to ${max}`);
  return Number(text);
}

/** A refused upgrade: a plain HTTP answer with our headers, then the socket goes. */
export function refuseUpgrade(socket: Duplex, status: number, message: string): void {
  const body = `${JSON.stringify({ error: message })}\n`;
  const headers = Object.entries(SECURITY_HEADERS).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${headers}Connection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 2_000).unref();
}
