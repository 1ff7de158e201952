// The instances as the console shows them: the live ones (the registry), and those gone whose
// log lines the server still keeps (the log hub), each with its state, whether exec is on, the
// lines received, its URL and what it reported of its config. `disconnected` for a short while
// after its config stream closed (an entrypoint that lost its connection is back within it),
// `gone` after that; `removed` once the server forgets it. The event stream sends each one at
// connect, then every change: at once on a registry change, and within a second for the rest
// (line counts, URLs, the turn to `gone`, forgetting).
import type { InstanceInfo, InstanceRegistry } from '../instances/registry.js';
import type { LogHub } from '../logs/hub.js';
import type { RemoteInstance, Replicas } from '../replicas/replicas.js';
import type { UrlService } from '../tunnel/urls.js';
import type { EventStream } from './sse.js';

/**
 * How long an instance whose stream closed shows as disconnected before it is gone: an
 * entrypoint whose connection dropped retries after 0.5 s, then 1 s, 2 s (connection/backoff.ts),
 * so one that is still alive is mostly back within it; one that stopped turns gone soon after.
 */
export const DISCONNECTED_MS = 5_000;
/** What a stream may hold unread by its client before it is closed. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** How often a stream looks for changes no event tells of. */
const POLL_MS = 1_000;

export interface InstanceJson {
  id: string;
  app: string;
  deploymentId: string;
  state: 'connected' | 'disconnected' | 'gone';
  connectedAt: number | null;
  lastSeenAt: number | null;
  execEnabled: boolean | null;
  /** null: unknown here (an instance on another replica). */
  logLines: number | null;
  url: string | null;
  config: { restartPending: boolean | null; restartedAt: number | null };
  /** What the instance last reported (RUNNING, CONFIG_REFUSED, RESTART_FAILED), and its message. */
  status: string | null;
  statusMessage: string | null;
  /** Replicas (PostgreSQL): the replica it is connected to; null on SQLite. */
  replica: { id: string; address: string; alive: boolean } | null;
}

export interface InstanceViewParts {
  registry: InstanceRegistry;
  logs: LogHub;
  urls?: UrlService;
  replicas: Replicas;
}

export class InstanceView {
  /** The last registration of every instance that may still be shown; dropped once the hub forgets it. */
  private readonly seen = new Map<string, InstanceInfo>();
  private readonly closedAt = new Map<string, number>();
  private readonly listeners = new Set<() => void>();
  /** The other replicas' instances, as last read (at most once per POLL_MS, shared by every reader). */
  private remote: RemoteInstance[] = [];
  private remoteRead: { at: number; done: Promise<void> } | undefined;

  constructor(
    private readonly parts: InstanceViewParts,
    private readonly now: () => number = Date.now,
  ) {
    parts.registry.onChange(({ kind, info }) => {
      this.seen.set(info.id, info);
      if (kind === 'removed') {
        this.closedAt.set(info.id, this.now());
        this.forgetUnknown();
      } else this.closedAt.delete(info.id);
      for (const l of [...this.listeners]) l();
    });
  }

  list(filter: { app?: string; deploymentId?: string } = {}): InstanceJson[] {
    this.forgetUnknown();
    const out: InstanceJson[] = [];
    const ids = new Set<string>();
    for (const info of this.parts.registry.list()) {
      ids.add(info.id);
      out.push(this.live(info));
    }
    for (const { info, replica } of this.remote) {
      if (ids.has(info.id)) continue;
      ids.add(info.id);
      out.push(elsewhere(info, replica));
    }
    for (const kept of this.parts.logs.kept()) {
      if (ids.has(kept.id)) continue;
      out.push(this.left(kept.id, kept.app, kept.deploymentId, kept.goneAt));
    }
    return out.filter((i) => (!filter.app || i.app === filter.app) && (!filter.deploymentId || i.deploymentId === filter.deploymentId));
  }

  /**
   * Reads the other replicas' instances again, unless read within the last poll interval. A
   * failed read keeps the last one (the console shows them a little late, not an error).
   */
  refreshRemote(): Promise<void> {
    if (!this.parts.replicas.shared) return Promise.resolve();
    const now = this.now();
    if (this.remoteRead && now - this.remoteRead.at < POLL_MS) return this.remoteRead.done;
    const done = this.parts.replicas.remoteInstances().then(
      (remote) => void (this.remote = remote),
      () => undefined,
    );
    this.remoteRead = { at: now, done };
    return done;
  }

  /** Sends every instance, then each change, until the stream closes. */
  stream(events: EventStream, filter: { app?: string; deploymentId?: string } = {}): void {
    const sent = new Map<string, string>();
    const diff = () => {
      // A client that stopped reading gets no unbounded backlog: closed, its EventSource comes
      // back for a fresh snapshot once it reads again.
      if (events.res.writableLength > MAX_BUFFERED_BYTES) return events.close();
      const now = new Map(this.list(filter).map((i) => [i.id, i]));
      for (const [id, instance] of now) {
        const json = JSON.stringify(instance);
        if (sent.get(id) === json) continue;
        sent.set(id, json);
        events.write(`event: instance\ndata: ${json}\n\n`);
      }
      for (const id of [...sent.keys()]) {
        if (now.has(id)) continue;
        sent.delete(id);
        events.send('removed', { id });
      }
    };
    diff();
    const listener = () => diff();
    this.listeners.add(listener);
    const poll = setInterval(() => void this.refreshRemote().then(diff), POLL_MS);
    events.onClose(() => {
      this.listeners.delete(listener);
      clearInterval(poll);
    });
  }

  private live(info: InstanceInfo): InstanceJson {
    const { urls } = this.parts;
    const tunnel = urls?.broker.liveOf(info.deploymentId).some((e) => e.instanceId === info.id);
    const status = info.status;
    return {
      id: info.id,
      app: info.app,
      deploymentId: info.deploymentId,
      state: 'connected',
      connectedAt: info.connectedSince,
      lastSeenAt: null,
      execEnabled: !info.execDisabled,
      logLines: this.parts.logs.received(info.id),
      url: urls && tunnel ? urls.deploymentUrl(info.app, info.deploymentId) : null,
      config: {
        // Its word that it does not run the latest config: refused, or the restart failed.
        restartPending: status ? status.state !== 'RUNNING' : null,
        // When its app started running the config it runs (a start, a restart), by its clock.
        restartedAt: status?.state === 'RUNNING' ? status.since : null,
      },
      status: status?.state ?? null,
      statusMessage: status ? status.message : null,
      replica: this.selfReplica(),
    };
  }

  private selfReplica(): InstanceJson['replica'] {
    const { replicas } = this.parts;
    return replicas.shared ? { id: replicas.self.id, address: replicas.self.grpcAddress, alive: true } : null;
  }

  private left(id: string, app: string, deploymentId: string, goneAt: number | undefined): InstanceJson {
    const info = this.seen.get(id);
    const closed = this.closedAt.get(id) ?? goneAt ?? null;
    const recent = closed !== null && this.now() - closed < DISCONNECTED_MS;
    return {
      id,
      app,
      deploymentId,
      state: recent ? 'disconnected' : 'gone',
      connectedAt: info?.connectedSince ?? null,
      lastSeenAt: closed,
      execEnabled: info ? !info.execDisabled : null,
      logLines: this.parts.logs.received(id),
      url: null,
      config: { restartPending: null, restartedAt: null },
      status: null,
      statusMessage: null,
      replica: this.selfReplica(),
    };
  }

  /** Registrations of instances neither live nor kept by the hub: nothing shows them any more. */
  private forgetUnknown(): void {
    for (const id of this.seen.keys()) {
      if (this.parts.registry.get(id) || this.parts.logs.knows(id)) continue;
      this.seen.delete(id);
      this.closedAt.delete(id);
    }
  }
}

/** An instance on another replica, as it last wrote it: its line count and URL are that replica's to know. */
function elsewhere(info: InstanceInfo, replica: RemoteInstance['replica']): InstanceJson {
  const status = info.status;
  return {
    id: info.id,
    app: info.app,
    deploymentId: info.deploymentId,
    state: replica.alive ? 'connected' : 'disconnected',
    connectedAt: info.connectedSince,
    lastSeenAt: replica.alive ? null : replica.heartbeatAt || null,
    execEnabled: !info.execDisabled,
    logLines: null,
    url: null,
    config: { restartPending: status ? status.state !== 'RUNNING' : null, restartedAt: status?.state === 'RUNNING' ? status.since : null },
    status: status?.state ?? null,
    statusMessage: status ? status.message : null,
    replica: { id: replica.id, address: replica.grpcAddress, alive: replica.alive },
  };
}
