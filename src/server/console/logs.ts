// The console's logs: the history (JSON lines, oldest first) and the live stream (Server-Sent
// Events), both from the server's log hub with GetLogs's checks (logs/filter.ts) and its sender
// (logs/sender.ts): a client slower than the lines loses the oldest queued ones, never slows
// ingestion, and is told how many with an `event: skipped`. Each line's id is a cursor:
// `<this run>.<arrival number>`; a stream given one (Last-Event-ID, or ?after=) starts with the
// kept lines that arrived after it; a cursor of an earlier run of the server gives all kept lines.
import { randomBytes } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { checkLogFilter } from '../logs/filter.js';
import type { LogEntry, LogFilter, LogSource } from '../logs/hub.js';
import { LogSender } from '../logs/sender.js';
import { HttpError, intParam, param } from './http.js';
import { trackCaller } from './auth.js';
import { operator, type RequestContext, type Route } from './router.js';
import { EventStream, sseEvent } from './sse.js';

/** This run of the server: a cursor of another run names nothing kept now. */
const RUN = randomBytes(6).toString('base64url');
const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 1_000_000;
const HISTORY_CHUNK_LINES = 1000;

export interface LogLineJson {
  id: string;
  app: string;
  deploymentId: string;
  instanceId: string;
  source: LogSource;
  /** The entrypoint relays stdout and stderr as one stream of app lines: which one is not known. */
  stream: null;
  timestamp: number;
  line: string;
}

export function cursorOf(e: LogEntry, run = RUN): string {
  return `${run}.${e.seq}`;
}

/** The arrival number after which to resume: -1 for a cursor of another run (all kept lines), undefined for none. 400 for a malformed one. */
export function parseCursor(text: string | undefined, run = RUN): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const m = /^([A-Za-z0-9_-]{1,32})\.(\d{1,15})$/.exec(text.trim());
  if (!m) throw new HttpError(400, 'malformed log cursor: use the id of a line as it was given');
  return m[1] === run ? Number(m[2]) : -1;
}

export function lineJson(e: LogEntry): LogLineJson {
  return {
    id: cursorOf(e),
    app: e.app,
    deploymentId: e.deploymentId,
    instanceId: e.instanceId,
    source: e.source,
    stream: null,
    timestamp: e.seconds * 1000 + Math.floor(e.nanos / 1_000_000),
    line: e.line,
  };
}

async function filterOf({ parts, url }: RequestContext): Promise<LogFilter> {
  const source = param(url, 'source');
  if (source !== '' && source !== 'app' && source !== 'entrypoint') throw new HttpError(400, 'source must be app or entrypoint (or absent: both)');
  return checkLogFilter(parts.ctx, {
    app: param(url, 'app'),
    deploymentId: param(url, 'deployment'),
    instanceId: param(url, 'instance'),
    ...(source && { source: source as LogSource }),
  });
}

async function history(c: RequestContext): Promise<void> {
  const filter = await filterOf(c);
  const limit = intParam(c.url, 'limit', MAX_LIMIT) ?? DEFAULT_LIMIT;
  const lines = c.parts.ctx.logs.recent(filter);
  const { res } = c;
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson; charset=utf-8', 'Cache-Control': 'no-store' });
  // In pieces, each once the client took the one before: the kept lines may be hundreds of MiB.
  for (let i = Math.max(0, lines.length - limit); i < lines.length && !res.destroyed; i += HISTORY_CHUNK_LINES) {
    const chunk = lines.slice(i, i + HISTORY_CHUNK_LINES).map((e) => `${JSON.stringify(lineJson(e))}\n`).join('');
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
}

/** Resolves once the response's buffer drained, or it closed. */
function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function stream(c: RequestContext): Promise<void> {
  const filter = await filterOf(c);
  const header = c.req.headers['last-event-id'];
  const after = parseCursor(typeof header === 'string' && header !== '' ? header : param(c.url, 'after'));
  const { logs } = c.parts.ctx;
  const events = new EventStream(c.res);
  // Subscribe and snapshot in the same tick: no line is missed or sent twice between them.
  const backlog = after === undefined ? [] : logs.recent(filter).filter((e) => e.seq > after).sort((a, b) => a.seq - b.seq);
  const sender = new LogSender(events, backlog, { follow: true }, encodeEvents);
  const unfollow = logs.follow(filter, sender);
  const untrack = logs.track(() => events.close());
  const unsession = trackCaller(c.parts.sessions, operator(c), () => events.close());
  events.onClose(() => {
    sender.close();
    unfollow();
    untrack();
    unsession();
  });
  sender.start();
}

/** One write of the stream: the count lost before these lines, then the lines. */
export function encodeEvents(entries: LogEntry[], dropped: number): string {
  let out = dropped > 0 ? sseEvent('skipped', { count: dropped }) : '';
  for (const e of entries) out += sseEvent('line', lineJson(e), cursorOf(e));
  return out;
}

export const logRoutes: Route[] = [
  { method: 'GET', path: '/api/v1/logs', auth: 'operator', handle: history },
  { method: 'GET', path: '/api/v1/logs/stream', auth: 'operator', handle: stream },
];
