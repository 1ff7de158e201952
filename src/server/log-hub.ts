// Log lines in memory: a ring buffer per instance (the last 10 000 lines, and at most 16 MiB),
// a count of lines received, and the live followers. An instance's buffer outlives its
// connection for a while (the most recent 64 gone instances, for an hour) so `logs` still shows
// why it went. Ingestion never waits for a follower: it hands lines over and moves on.
import type { _hashicorp_waypoint_LogBatch_Entry__Output as Entry__Output } from '../protocol/generated/hashicorp/waypoint/LogBatch.js';
import type { Principal } from './auth.js';
import { RingBuffer } from './log-ring.js';
import { failedPrecondition, permissionDenied } from './status.js';

export type LogSource = 'app' | 'entrypoint';

export interface LogEntry {
  instanceId: string;
  app: string;
  /** The entrypoint's timestamp (or the arrival time when it sent none). */
  seconds: number;
  nanos: number;
  source: LogSource;
  /** One trailing newline stripped. */
  line: string;
  /** Arrival order on this server: breaks ties between equal timestamps. */
  seq: number;
}

export interface LogFilter {
  app?: string;
  instanceId?: string;
  source?: LogSource;
}

/** A follower: gets matching lines as they arrive; must not block. */
export interface LogSubscriber {
  offer(entries: LogEntry[]): void;
}

export interface InstanceLogs {
  readonly id: string;
  readonly app: string;
  readonly deploymentId: string;
  /** The token that registered the instance: the only one that may ship its logs. */
  ownerTokenId: string;
  readonly ring: RingBuffer<LogEntry>;
  received: number;
  /** ms since the epoch when its config stream closed; undefined while connected. */
  goneAt?: number;
}

export interface LogHubOptions {
  linesPerInstance?: number;
  bytesPerInstance?: number;
  keepGoneInstances?: number;
  keepGoneMs?: number;
  now?: () => number;
}

/** Per line kept: the object and its fields, roughly, beside the text. */
const ENTRY_OVERHEAD_BYTES = 64;

export class LogHub {
  private readonly instances = new Map<string, InstanceLogs>();
  private readonly subscribers = new Map<LogSubscriber, LogFilter>();
  /** Every open log call (ingestion or follower), ended at shutdown. */
  private readonly openCalls = new Set<(reason: string) => void>();
  private seq = 0;
  private readonly opts: Required<LogHubOptions>;

  constructor(opts: LogHubOptions = {}) {
    this.opts = {
      linesPerInstance: 10_000,
      bytesPerInstance: 16 * 1024 * 1024,
      keepGoneInstances: 64,
      keepGoneMs: 60 * 60 * 1000,
      now: Date.now,
      ...opts,
    };
  }

  /** An instance registered (again): its buffer and count carry over a reconnect. */
  registered(info: { id: string; app: string; deploymentId: string; tokenId: string }): void {
    const known = this.instances.get(info.id);
    if (known && known.deploymentId === info.deploymentId) {
      known.ownerTokenId = info.tokenId;
      known.goneAt = undefined;
      return;
    }
    this.instances.set(info.id, {
      id: info.id,
      app: info.app,
      deploymentId: info.deploymentId,
      ownerTokenId: info.tokenId,
      ring: new RingBuffer<LogEntry>(this.opts.linesPerInstance, {
        maxWeight: this.opts.bytesPerInstance,
        weigh: (e) => e.line.length + ENTRY_OVERHEAD_BYTES,
      }),
      received: 0,
    });
    this.prune();
  }

  /** Its config stream closed: keep its lines for a while. */
  gone(id: string): void {
    const known = this.instances.get(id);
    if (known) known.goneAt = this.opts.now();
    this.prune();
  }

  /**
   * The instance a caller ships a batch for. It must have been registered (and not forgotten)
   * by the very token shipping it; the operator may ship for any.
   */
  admit(instanceId: string, principal: Principal): InstanceLogs {
    const known = this.instances.get(instanceId);
    if (!known) {
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
  append(instance: InstanceLogs, lines: Entry__Output[]): void {
    if (lines.length === 0) return;
    const entries = new Array<LogEntry>(lines.length);
    const now = this.opts.now();
    for (let i = 0; i < lines.length; i++) {
      const e = lines[i];
      const text = e.line.charCodeAt(e.line.length - 1) === 10 ? e.line.slice(0, -1) : e.line;
      const entry: LogEntry = {
        instanceId: instance.id,
        app: instance.app,
        seconds: e.timestamp ? Number(e.timestamp.seconds) : Math.floor(now / 1000),
        nanos: e.timestamp ? e.timestamp.nanos : (now % 1000) * 1_000_000,
        source: e.source === 'ENTRYPOINT' ? 'entrypoint' : 'app',
        line: text,
        seq: ++this.seq,
      };
      entries[i] = entry;
      instance.ring.push(entry);
    }
    instance.received += lines.length;
    for (const [subscriber, filter] of this.subscribers) {
      if (!instanceMatches(instance, filter)) continue;
      const wanted = filter.source ? entries.filter((e) => e.source === filter.source) : entries;
      if (wanted.length > 0) subscriber.offer(wanted);
    }
  }

  /** Lines received from an instance since it first registered (0 when unknown). */
  received(id: string): number {
    return this.instances.get(id)?.received ?? 0;
  }

  knows(id: string): boolean {
    return this.instances.has(id);
  }

  /** The buffered lines that match, oldest first across instances. */
  recent(filter: LogFilter): LogEntry[] {
    this.prune();
    const out: LogEntry[] = [];
    for (const instance of this.instances.values()) {
      if (!instanceMatches(instance, filter)) continue;
      for (const e of instance.ring.toArray()) if (!filter.source || e.source === filter.source) out.push(e);
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

  /** Forgets gone instances past their time, then the oldest gone beyond the count. */
  private prune(): void {
    const now = this.opts.now();
    const gone: InstanceLogs[] = [];
    for (const instance of this.instances.values()) {
      if (instance.goneAt === undefined) continue;
      if (now - instance.goneAt > this.opts.keepGoneMs) this.instances.delete(instance.id);
      else gone.push(instance);
    }
    if (gone.length <= this.opts.keepGoneInstances) return;
    gone.sort((a, b) => a.goneAt! - b.goneAt!);
    for (const instance of gone.slice(0, gone.length - this.opts.keepGoneInstances)) this.instances.delete(instance.id);
  }
}

function instanceMatches(instance: InstanceLogs, filter: LogFilter): boolean {
  return (!filter.app || instance.app === filter.app) && (!filter.instanceId || instance.id === filter.instanceId);
}

export function timeOrder(a: LogEntry, b: LogEntry): number {
  return a.seconds - b.seconds || a.nanos - b.nanos || a.seq - b.seq;
}
