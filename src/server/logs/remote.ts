// The lines other replicas hold, for a reader on this one: GetLogs on every alive replica,
// forwarded (each answers from its own rings and never forwards again), their kept lines
// gathered until each said it sent them all (`backlog_end`, or the end of a call that does not
// follow), then their new lines as they come. A replica that fails or does not answer in time is
// left out with a warning: the lines of the others still come. While following, a replica that
// joins (a new one, or one restarted) is asked too, and one that did not know the instance asked
// for is asked again (it may have moved there): its kept lines, then its new ones.
import type { ClientReadableStream, Metadata, ServiceError } from '@grpc/grpc-js';
import type { GetLogsRequest } from '../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsRequest.js';
import type { GetLogsResponse__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { LogLine__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/LogLine.js';
import { protocol } from '../../protocol/load.js';
import type { ServerLog } from '../log.js';
import type { PeerCaller, Peers } from '../replicas/peers.js';
import type { ReplicaInfo, Replicas } from '../replicas/replicas.js';
import { Status } from '../rpc/status.js';
import type { LogEntry, LogSubscriber } from './hub.js';

/** How long a replica may take to send its kept lines before the reader goes on without them. */
export const REMOTE_BACKLOG_TIMEOUT_MS = 10_000;
/** Between two looks for replicas that joined, while following. */
const WATCH_MS = 2_000;

export interface RemoteLogsParts {
  replicas: Replicas;
  peers: Peers;
  log: ServerLog;
}

export interface RemoteLogs {
  /** The kept lines of every replica that answered, each replica's in its order. */
  backlog: LogEntry[];
  /** Replicas that know the instance asked for (or all that answered, without one). */
  found: number;
  /** Their new lines from now on (following): to `subscriber`. */
  follow(subscriber: LogSubscriber): void;
  /** Ends every call. */
  close(): void;
}

/** Asks every other alive replica for its lines matching `req`; resolves once each has sent its kept ones (or failed). */
export async function remoteLogs(parts: RemoteLogsParts, caller: PeerCaller, req: GetLogsRequest): Promise<RemoteLogs> {
  const others = (await parts.replicas.list()).filter((r) => r.alive && r.id !== parts.replicas.self.id);
  const metadata = others.length > 0 || req.follow ? await parts.peers.metadata(caller) : undefined;
  const feeds = new Map(others.map((replica) => [replica.id, new ReplicaFeed(parts, replica, metadata!, req)]));
  await Promise.all([...feeds.values()].map((f) => f.backlogDone));
  let watch: NodeJS.Timeout | undefined;
  let closed = false;
  return {
    backlog: [...feeds.values()].flatMap((f) => f.backlog),
    found: [...feeds.values()].filter((f) => f.found).length,
    follow(subscriber) {
      for (const f of feeds.values()) f.follow(subscriber);
      watch = setInterval(() => void joined(parts, feeds, { metadata: metadata!, req }, subscriber, () => closed), WATCH_MS);
      watch.unref();
    },
    close() {
      closed = true;
      clearInterval(watch);
      for (const f of feeds.values()) f.close();
    },
  };
}

/** Replicas alive now that were not asked yet: their kept lines (all new to this reader), then their new ones. */
async function joined(
  parts: RemoteLogsParts,
  feeds: Map<string, ReplicaFeed>,
  ask: { metadata: Metadata; req: GetLogsRequest },
  subscriber: LogSubscriber,
  closed: () => boolean,
): Promise<void> {
  const asked = (id: string) => feeds.has(id) && !feeds.get(id)!.notFound;
  let alive: ReplicaInfo[];
  try {
    alive = (await parts.replicas.list()).filter((r) => r.alive && r.id !== parts.replicas.self.id && !asked(r.id));
  } catch {
    return; // the database away: the next look
  }
  for (const replica of alive) {
    if (closed()) return;
    if (asked(replica.id)) continue; // by a look that overlapped this one
    const feed = new ReplicaFeed(parts, replica, ask.metadata, { ...ask.req, new_only: false });
    feeds.set(replica.id, feed);
    void feed.backlogDone.then(() => {
      if (closed()) return feed.close();
      if (feed.backlog.length > 0) subscriber.offer(feed.backlog.splice(0));
      feed.follow(subscriber);
    });
  }
}

class ReplicaFeed {
  readonly backlog: LogEntry[] = [];
  readonly backlogDone: Promise<void>;
  /** False when the replica answered NOT_FOUND (it does not know the instance) or failed. */
  found = true;
  /** It answered NOT_FOUND: it did not know the instance then. */
  notFound = false;
  private inBacklog = true;
  private subscriber?: LogSubscriber;
  /** Lines after the backlog, before a subscriber was given, and those lost among them. */
  private early: LogEntry[] = [];
  private earlyDropped = 0;
  private readonly call: ClientReadableStream<GetLogsResponse__Output>;
  private closed = false;
  /** Lines received: each one's place in this replica's order. */
  private received = 0;

  constructor(
    private readonly parts: RemoteLogsParts,
    private readonly replica: ReplicaInfo,
    metadata: Metadata,
    req: GetLogsRequest,
  ) {
    const m = protocol().waypoint_entrypoint.control.v1.Control.service.GetLogs;
    this.call = parts.peers.client(replica).makeServerStreamRequest(m.path, m.requestSerialize, m.responseDeserialize, req, metadata, {});
    let endBacklog: () => void = () => undefined;
    this.backlogDone = new Promise<void>((resolve) => (endBacklog = resolve));
    const timer = setTimeout(() => {
      if (!this.inBacklog) return;
      this.warn(`sent no end of its kept lines within ${REMOTE_BACKLOG_TIMEOUT_MS / 1000} s`);
      this.found = false;
      this.close();
    }, REMOTE_BACKLOG_TIMEOUT_MS);
    this.backlogDone.then(() => clearTimeout(timer));
    const backlogOver = () => {
      this.inBacklog = false;
      endBacklog();
    };
    this.call.on('data', (msg: GetLogsResponse__Output) => {
      const entries = msg.lines.map((l) => entryOf(l, this.received++));
      // Lines that replica's sender lost for us (we read too slowly): the reader is told.
      const dropped = Number(msg.dropped);
      if (dropped > 0) {
        if (this.subscriber) this.subscriber.lost?.(dropped);
        else this.earlyDropped += dropped;
      }
      if (this.inBacklog) this.backlog.push(...entries);
      else if (this.subscriber) this.subscriber.offer(entries);
      else this.early.push(...entries);
      if (msg.backlog_end) backlogOver();
    });
    this.call.on('end', backlogOver);
    this.call.on('error', (err: ServiceError) => {
      if (err.code === Status.NOT_FOUND) {
        this.found = false;
        this.notFound = true;
      }
      else if (!this.closed) {
        this.found = false;
        this.warn(`failed: ${err.details}`);
      }
      backlogOver();
    });
    // Settled at once when closed before the end of the backlog (the timeout, the reader gone).
    this.call.on('close', backlogOver);
  }

  follow(subscriber: LogSubscriber): void {
    this.subscriber = subscriber;
    if (this.earlyDropped > 0) subscriber.lost?.(this.earlyDropped);
    this.earlyDropped = 0;
    if (this.early.length > 0) subscriber.offer(this.early.splice(0));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.call.cancel();
  }

  private warn(what: string): void {
    this.parts.log.warn(`logs of replica ${this.replica.grpcAddress} left out: it ${what}`, { replica: this.replica.id });
  }
}

/** A line another replica sent, as this one's readers take it; `seq`: its place in that replica's order. */
function entryOf(l: LogLine__Output, seq: number): LogEntry {
  return {
    instanceId: l.instance_id,
    app: l.app,
    deploymentId: l.deployment_id,
    seconds: Number(l.timestamp?.seconds ?? 0),
    nanos: l.timestamp?.nanos ?? 0,
    source: l.source === 'ENTRYPOINT' ? 'entrypoint' : 'app',
    line: l.line,
    seq,
    ...(l.cursor && { id: l.cursor }),
  };
}

/** Lines of several servers in time order; equal times keep each server's own order (a stable sort). */
export function mergeByTime(...lists: LogEntry[][]): LogEntry[] {
  return lists.flat().sort((a, b) => a.seconds - b.seconds || a.nanos - b.nanos);
}
