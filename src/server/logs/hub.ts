// server/logs/ owns the log lines the server holds: decoded by hand as they arrive, kept in
// bounded rings per instance, and handed to followers that can never slow ingestion down.
//
// Log lines in memory: a ring buffer per instance (the last 10 000 lines, and at most 16 MiB),
// a count of lines received, and the live followers. An instance's buffer outlives its
// connection for a while (the most recent 64 gone instances of each app, for an hour) so `logs`
// still shows why it went; one app's churn never pushes out another app's. All rings together
// are bounded too (maxTotalBytes): past it, gone instances go first (oldest first), then the
// heaviest live ring loses its oldest lines. Ingestion never waits for a follower: it hands lines over and moves on. Lines are
// kept as the batches they came in (LineRing): a LogEntry is made only for a reader.
import type { Principal } from '../auth/authenticator.js';
import type { LogBatchLines, LogSource } from './batch.js';
import { checkInstanceId } from '../instances/registry.js';
import { LineRing } from './line-ring.js';
import { failedPrecondition, permissionDenied, RpcError, Status } from '../rpc/status.js';

export type { LogSource };

export interface LogEntry {
  instanceId: string;
  app: string;
  deploymentId: string;
  /** The entrypoint's timestamp (or the arrival time when it sent none). */
  seconds: number;
  nanos: number;
  source: LogSource;
  /** One trailing newline stripped. */
  line: string;
  /** Arrival order on this server: breaks ties between equal timestamps. */
  seq: number;
  /** A line another replica holds: its id there (logs/cursor.ts). */
  id?: string;
}

export interface LogFilter {
  app?: string;
  deploymentId?: string;
  instanceId?: string;
  source?: LogSource;
}

/** A follower: gets matching lines as they arrive; must not block. */
export interface LogSubscriber {
  offer(entries: LogEntry[]): void;
  /** Lines lost on the way before the next ones (another replica's reader fell behind). */
  lost?(count: number): void;
}

export interface InstanceLogs {
  readonly id: string;
  readonly app: string;
  readonly deploymentId: string;
  /** The token that registered the instance: the only one that may ship its logs. */
  ownerTokenId: string;
  readonly ring: LineRing;
  received: number;
  /** ms since the epoch when its config stream closed; undefined while connected. */
  goneAt?: number;
}

export interface LogHubOptions {
  linesPerInstance?: number;
  bytesPerInstance?: number;
  keepGoneInstances?: number;
  keepGoneMs?: number;
  /** Bytes kept by all rings together, counted as each ring counts them. */
  maxTotalBytes?: number;
  now?: () => number;
}

export const DEFAULT_LOG_MEMORY_BYTES = 512 * 1024 * 1024;

export class LogHub {
  private readonly instances = new Map<string, InstanceLogs>();
  /** The instances gone (goneAt set): what prune looks at, without walking a fleet's live ones. */
  private readonly goneOnes = new Set<InstanceLogs>();
  private readonly subscribers = new Map<LogSubscriber, LogFilter>();
  /** Every open log call (ingestion or follower), ended at shutdown. */
  private readonly openCalls = new Set<(reason: string) => void>();
  private seq = 0;
  /** The sum of every ring's weight. */
  private totalBytes = 0;
  private readonly opts: Required<LogHubOptions>;

  constructor(opts: LogHubOptions = {}) {
    this.opts = {
      linesPerInstance: 10_000,
      bytesPerInstance: 16 * 1024 * 1024,
      keepGoneInstances: 64,
      keepGoneMs: 60 * 60 * 1000,
      maxTotalBytes: DEFAULT_LOG_MEMORY_BYTES,
      now: Date.now,
      ...opts,
    };
  }

  /** An instance registered (again): its buffer and count carry over a reconnect. */
  registered(info: { id: string; app: string; deploymentId: string; tokenId: string }): void {
    this.checkFree(info.id, info.deploymentId);
    const known = this.instances.get(info.id);
    if (known) {
      known.ownerTokenId = info.tokenId;
      known.goneAt = undefined;
      this.goneOnes.delete(known);
      return;
    }
    this.instances.set(info.id, {
      id: info.id,
      app: info.app,
      deploymentId: info.deploymentId,
      ownerTokenId: info.tokenId,
      ring: new LineRing(this.opts.linesPerInstance, this.opts.bytesPerInstance),
      received: 0,
    });
    this.prune();
  }

  /**
   * L2: an instance id whose lines are kept for one deployment is that deployment's until they
   * are forgotten, gone or not: another deployment registering it would take its logs over.
   */
  checkFree(id: string, deploymentId: string): void {
    const known = this.instances.get(id);
    if (known && known.deploymentId !== deploymentId) {
      throw new RpcError(
        Status.ALREADY_EXISTS,
        `instance id ${id} belongs to deployment ${known.deploymentId} (its logs are kept for up to an hour after it leaves): use a fresh instance id`,
      );
    }
  }

  /** Its config stream closed: keep its lines for a while. */
  gone(id: string): void {
    const known = this.instances.get(id);
    if (known) {
      known.goneAt = this.opts.now();
      this.goneOnes.add(known);
    }
    this.prune();
  }

  /**
   * The instance a caller ships a batch for. It must have been registered (and not forgotten)
   * by the very token shipping it; the operator may ship for any.
   */
  admit(instanceId: string, principal: Principal): InstanceLogs {
    const known = this.instances.get(instanceId);
    if (!known) {
      if (instanceId !== '') checkInstanceId(instanceId, 'EntrypointLogBatch'); // not echoed back whole
      throw failedPrecondition(
        `instance ${JSON.stringify(instanceId)} is not registered: open its EntrypointConfig stream before shipping its logs`,
      );
    }
    if (principal.kind === 'entrypoint' && principal.tokenId !== known.ownerTokenId) {
      const whose = principal.deploymentId === known.deploymentId ? 'another token' : `deployment ${known.deploymentId}`;
      throw permissionDenied(`instance ${instanceId} was registered by ${whose}: this token may ship only its own instances' logs`);
    }
    return known;
  }

  /** Stores a batch and hands it to the followers that want it. */
  append(instance: InstanceLogs, batch: LogBatchLines): void {
    const n = batch.count;
    if (n === 0) return;
    const seq0 = this.seq + 1;
    this.seq += n;
    const arrivedMs = this.opts.now();
    const before = instance.ring.weight;
    instance.ring.push(batch, seq0, arrivedMs);
    this.totalBytes += instance.ring.weight - before;
    if (this.totalBytes > this.opts.maxTotalBytes) this.shed();
    instance.received += n;
    if (this.subscribers.size === 0) return;
    // Made once per source filter, for the first follower that wants them, and only the lines it
    // wants: a follower of our ENTRYPOINT lines does not cost a LogEntry per APP line.
    const made = new Map<LogSource | undefined, LogEntry[]>();
    for (const [subscriber, filter] of this.subscribers) {
      if (!instanceMatches(instance, filter)) continue;
      let wanted = made.get(filter.source);
      if (!wanted) {
        wanted = [];
        for (let i = 0; i < n; i++) {
          if (!filter.source || batch.source(i) === filter.source) wanted.push(toEntry(instance, batch, i, seq0 + i, arrivedMs));
        }
        made.set(filter.source, wanted);
      }
      if (wanted.length > 0) subscriber.offer(wanted);
    }
  }

  /** Lines received from an instance since it first registered (0 when unknown). */
  received(id: string): number {
    return this.instances.get(id)?.received ?? 0;
  }

  /** Bytes kept by every ring together, as counted against maxTotalBytes. */
  get retainedBytes(): number {
    return this.totalBytes;
  }

  knows(id: string): boolean {
    return this.instances.has(id);
  }

  /** Every instance whose lines are kept, live or gone (those past their time forgotten first). */
  kept(): InstanceLogs[] {
    this.prune();
    return [...this.instances.values()];
  }

  /** The buffered lines that match, oldest first across instances. */
  recent(filter: LogFilter): LogEntry[] {
    this.prune();
    const out: LogEntry[] = [];
    for (const instance of this.instances.values()) {
      if (!instanceMatches(instance, filter)) continue;
      instance.ring.forEach((batch, i, seq, arrivedMs) => {
        if (!filter.source || batch.source(i) === filter.source) out.push(toEntry(instance, batch, i, seq, arrivedMs));
      });
    }
    return out.sort(timeOrder);
  }

  /** From now on, `subscriber` gets every new matching line. Returns the unsubscribe. */
  follow(filter: LogFilter, subscriber: LogSubscriber): () => void {
    this.subscribers.set(subscriber, filter);
    return () => this.subscribers.delete(subscriber);
  }

  /** Registers the way to end an open log call at shutdown. Returns the deregistration. */
  track(end: (reason: string) => void): () => void {
    this.openCalls.add(end);
    return () => this.openCalls.delete(end);
  }

  /** Server shutdown: ends every open log call, so none holds the stop up. */
  shutdown(reason: string): void {
    for (const end of [...this.openCalls]) end(reason);
    this.openCalls.clear();
    this.subscribers.clear();
  }

  /** Forgets gone instances past their time, then per app the oldest gone beyond the count. */
  private prune(): void {
    const now = this.opts.now();
    const goneByApp = new Map<string, InstanceLogs[]>();
    for (const instance of this.goneOnes) {
      if (now - instance.goneAt! > this.opts.keepGoneMs) this.forget(instance);
      else if (goneByApp.has(instance.app)) goneByApp.get(instance.app)!.push(instance);
      else goneByApp.set(instance.app, [instance]);
    }
    for (const gone of goneByApp.values()) {
      if (gone.length <= this.opts.keepGoneInstances) continue;
      gone.sort((a, b) => a.goneAt! - b.goneAt!);
      for (const instance of gone.slice(0, gone.length - this.opts.keepGoneInstances)) this.forget(instance);
    }
  }

  /**
   * Over maxTotalBytes: the oldest gone instances go, then the heaviest ring is trimmed, down to
   * 15/16 of the bound, so that a server at its bound does this once in a while, not per batch.
   */
  private shed(): void {
    const target = this.opts.maxTotalBytes - Math.floor(this.opts.maxTotalBytes / 16);
    const gone = [...this.goneOnes].sort((a, b) => a.goneAt! - b.goneAt!);
    for (const instance of gone) {
      if (this.totalBytes <= target) return;
      this.forget(instance);
    }
    while (this.totalBytes > target) {
      let heaviest: InstanceLogs | undefined;
      for (const instance of this.instances.values()) if (!heaviest || instance.ring.weight > heaviest.ring.weight) heaviest = instance;
      if (!heaviest || heaviest.ring.length <= 1) return; // only newest lines left: kept, as a ring keeps its newest
      const before = heaviest.ring.weight;
      heaviest.ring.trimTo(before - (this.totalBytes - target));
      this.totalBytes -= before - heaviest.ring.weight;
      if (heaviest.ring.weight === before) return;
    }
  }

  private forget(instance: InstanceLogs): void {
    this.totalBytes -= instance.ring.weight;
    this.instances.delete(instance.id);
    this.goneOnes.delete(instance);
  }
}

function instanceMatches(instance: InstanceLogs, filter: LogFilter): boolean {
  return (
    (!filter.app || instance.app === filter.app) &&
    (!filter.deploymentId || instance.deploymentId === filter.deploymentId) &&
    (!filter.instanceId || instance.id === filter.instanceId)
  );
}

/** Line i of a batch as readers see it; a line sent without a timestamp has its arrival time. */
function toEntry(instance: InstanceLogs, batch: LogBatchLines, i: number, seq: number, arrivedMs: number): LogEntry {
  const stamped = batch.hasTimestamp(i);
  return {
    instanceId: instance.id,
    app: instance.app,
    deploymentId: instance.deploymentId,
    seconds: stamped ? batch.seconds(i) : Math.floor(arrivedMs / 1000),
    nanos: stamped ? batch.nanos(i) : (arrivedMs % 1000) * 1_000_000,
    source: batch.source(i),
    line: batch.line(i),
    seq,
  };
}

export function timeOrder(a: LogEntry, b: LogEntry): number {
  return a.seconds - b.seconds || a.nanos - b.nanos || a.seq - b.seq;
}
