// The console's logs: the history (JSON lines, oldest first) and the live stream (Server-Sent
// Events), both from the server's log hub with GetLogs's checks (logs/filter.ts) and its sender
// (logs/sender.ts): a client slower than the lines loses the oldest queued ones, never slows
// ingestion, and is told how many with an `event: skipped`. Each line's id is a cursor:
// `<this run>.<arrival number>`; a stream given one (Last-Event-ID, or ?after=) starts with the
// kept lines that arrived after it; a cursor of an earlier run of the server gives all kept lines.
// On replicas the other replicas' lines come too (logs/remote.ts): in the history, merged in time
// order, and in the stream as they arrive (with their ids there, but no event id: a stream
// resumes from this replica's lines).
import type { ServerResponse } from 'node:http';
import { formatPeer } from '../../rules/listen.js';
import { checkLogFilterAcross, unknownEverywhere } from '../logs/filter.js';
import { cursorOf, RUN } from '../logs/cursor.js';
import type { LogEntry, LogFilter, LogSource } from '../logs/hub.js';
import { mergeByTime, type RemoteLogs, remoteLogs } from '../logs/remote.js';
import { LogSender } from '../logs/sender.js';
import { HttpError, intParam, param } from './http.js';
import { peerOf, trackCaller } from './auth.js';
import { operator, type RequestContext, type Route } from './router.js';
import { EventStream, sseEvent } from './sse.js';

export { cursorOf };

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

/** Whether the other replicas are asked too: on a shared database. */
const elsewhere = (c: RequestContext) => c.parts.ctx.replicas.shared && c.parts.ctx.peers !== undefined;

async function filterOf({ parts, url }: RequestContext, across: boolean): Promise<{ filter: LogFilter; knownHere: boolean }> {
  const source = param(url, 'source');
  if (source !== '' && source !== 'app' && source !== 'entrypoint') throw new HttpError(400, 'source must be app or entrypoint (or absent: both)');
  return checkLogFilterAcross(
    parts.ctx,
    { app: param(url, 'app'), deploymentId: param(url, 'deployment'), instanceId: param(url, 'instance'), ...(source && { source: source as LogSource }) },
    across,
  );
}

/** The other replicas' lines of `filter`: their kept ones (or, following, only new ones). Undefined on one server. */
async function remoteOf(c: RequestContext, filter: LogFilter, knownHere: boolean, follow: boolean): Promise<RemoteLogs | undefined> {
  if (!elsewhere(c)) return undefined;
  const { ctx } = c.parts;
  const caller = { tokenId: operator(c).principal.tokenId, address: formatPeer(peerOf(c.req)) };
  const source = filter.source === undefined ? 'ALL' : filter.source === 'app' ? 'APP' : 'ENTRYPOINT';
  const request = { app: filter.app ?? '', instance_id: filter.instanceId ?? '', deployment_id: filter.deploymentId ?? '', source, follow, new_only: follow } as const;
  const remote = await remoteLogs({ replicas: ctx.replicas, peers: ctx.peers!, log: ctx.log }, caller, request);
  if (!knownHere && remote.found === 0) {
    remote.close();
    throw unknownEverywhere(filter.instanceId);
  }
  return remote;
}

async function history(c: RequestContext): Promise<void> {
  const { filter, knownHere } = await filterOf(c, elsewhere(c));
  const limit = intParam(c.url, 'limit', MAX_LIMIT) ?? DEFAULT_LIMIT;
  const local = c.parts.ctx.logs.recent(filter);
  const remote = await remoteOf(c, filter, knownHere, false);
  const lines = remote ? mergeByTime(local, remote.backlog) : local;
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
  const { filter, knownHere } = await filterOf(c, elsewhere(c));
  const header = c.req.headers['last-event-id'];
  const after = parseCursor(typeof header === 'string' && header !== '' ? header : param(c.url, 'after'));
  const { logs } = c.parts.ctx;
  // Asked first: a refusal (no replica knows the instance) is still an HTTP answer.
  let remote: RemoteLogs | undefined = await remoteOf(c, filter, knownHere, true);
  const events = new EventStream(c.res);
  // Subscribe and snapshot in the same tick: no line is missed or sent twice between them.
  const backlog = after === undefined ? [] : logs.recent(filter).filter((e) => e.seq > after).sort((a, b) => a.seq - b.seq);
  const sender = new LogSender(events, backlog, { follow: true }, encodeEvents);
  const unfollow = logs.follow(filter, sender);
  remote?.follow(sender);
  const untrack = logs.track(() => events.close());
  const unsession = trackCaller(c.parts.sessions, operator(c), () => events.close());
  events.onClose(() => {
    sender.close();
    unfollow();
    remote?.close();
    remote = undefined;
    untrack();
    unsession();
  });
  sender.start();
}

/** One write of the stream: the count lost before these lines, then the lines. */
export function encodeEvents(entries: LogEntry[], dropped: number): string {
  let out = dropped > 0 ? sseEvent('skipped', { count: dropped }) : '';
  // Another replica's line has no event id: a stream resumes from this replica's lines.
  for (const e of entries) out += sseEvent('line', lineJson(e), e.id === undefined ? cursorOf(e) : undefined);
  return out;
}

export const logRoutes: Route[] = [
  { method: 'GET', path: '/api/v1/logs', auth: 'operator', handle: history },
  { method: 'GET', path: '/api/v1/logs/stream', auth: 'operator', handle: stream },
];
