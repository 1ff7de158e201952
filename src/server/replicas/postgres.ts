// A replica of a PostgreSQL database: its row, kept fresh by a heartbeat; its live instances
// written for the others (instance-rows.ts); the changes it tells them and hears from them
// (changes.ts). About once per timeout, a heartbeat also tidies after replicas that died: their
// exec sessions are failed, and after a long silence they and their instance rows are forgotten.
import { Metadata } from '@grpc/grpc-js';
import { formatRange, METADATA, PROTOCOL_VERSIONS } from '../../protocol/metadata.js';
import type { TokenSigner } from '../auth/tokens.js';
import type { InstanceFilter, InstanceInfo, InstanceRegistry } from '../instances/registry.js';
import type { ServerLog } from '../log.js';
import type { Pool } from '../store/postgres/pool.js';
import {
  forgetSilent,
  heartbeat,
  type InstanceRowRead,
  listReplicas,
  otherInstances,
  removeReplica,
  replaceSameAddress,
  type ReplicaRow,
  upsertReplica,
} from '../store/postgres/replica-rows.js';
import type { PgExecHistory } from '../store/postgres/exec-history.js';
import type { Store } from '../store/store.js';
import { ChangeFeed, type ChangeHandlers, type ReplicaChange } from './changes.js';
import { InstanceRows } from './instance-rows.js';
import { REPLICA_METADATA, type RemoteInstance, type ReplicaInfo, type Replicas } from './replicas.js';

/** A replica silent this much longer than the timeout is forgotten (its row and instance rows go). */
const FORGET_AFTER_TIMEOUTS = 30;
/**
 * The tidying after dead replicas runs every this many heartbeats (heartbeats come every fifth of
 * the timeout): about once per timeout, since no replica turns dead more often than that.
 */
const TIDY_EVERY_BEATS = 5;

export interface PgReplicaOptions {
  id: string;
  version: string;
  heartbeatMs: number;
  timeoutMs: number;
  pool: Pool;
  url: string;
  store: Store;
  execHistory: PgExecHistory;
  signer: TokenSigner;
  registry: InstanceRegistry;
  log: ServerLog;
}

export class PgReplicas implements Replicas {
  readonly shared = true;
  readonly self: ReplicaInfo;
  private rows: InstanceRows | undefined;
  private feed: ChangeFeed | undefined;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> = Promise.resolve();
  private closed = false;
  private beats = 0;

  constructor(private readonly o: PgReplicaOptions) {
    const now = Date.now();
    this.self = { id: o.id, grpcAddress: '', version: o.version, startedAt: now, heartbeatAt: now, alive: true };
  }

  /** Joins: the row, the instance rows, the change feed, the heartbeat. After the listeners are bound. */
  async start(addresses: { grpcAddress: string; httpAddress?: string }, handlers: ChangeHandlers): Promise<void> {
    Object.assign(this.self, addresses);
    // This server's earlier run at the same address died (or it would still hold the address):
    // its sessions end now, as on SQLite, rather than after the timeout.
    const earlier = await replaceSameAddress(this.o.pool, this.o.id, addresses.grpcAddress);
    const cut = await this.o.execHistory.failRunningOf(earlier, 'server restarted');
    if (cut > 0) this.o.log.warn('exec sessions cut short by the last stop of the server recorded as failed', { sessions: cut });
    await upsertReplica(this.o.pool, { id: this.o.id, grpcAddress: addresses.grpcAddress, httpAddress: addresses.httpAddress, version: this.o.version });
    this.rows = new InstanceRows(this.o.pool, this.o.id, this.o.registry, this.o.log);
    this.feed = new ChangeFeed(this.o.url, this.o.pool, this.o.id, handlers, this.o.log);
    await this.feed.start();
    this.timer = setInterval(() => {
      this.beating = this.beating.then(() => this.beat());
    }, this.o.heartbeatMs);
    this.timer.unref();
  }

  /** Tells the other replicas of a change made here. */
  announce(change: ReplicaChange): Promise<void> {
    return this.feed?.publish(change) ?? Promise.resolve();
  }

  async list(): Promise<ReplicaInfo[]> {
    return (await listReplicas(this.o.pool, this.o.timeoutMs)).map((r) => ({
      ...replicaInfo(r),
      // Its own from memory: its rows may lag by a write.
      instances: r.id === this.o.id ? this.o.registry.list().length : (r.instances ?? 0),
    }));
  }

  async locate(instanceId: string): Promise<RemoteInstance | undefined> {
    const [row] = await otherInstances(this.o.pool, this.o.id, this.o.timeoutMs, { id: instanceId });
    return row && remote(row);
  }

  async remoteInstances(filter: InstanceFilter = {}): Promise<RemoteInstance[]> {
    const rows = await otherInstances(this.o.pool, this.o.id, this.o.timeoutMs, filter);
    return rows.map(remote).sort((a, b) => a.info.connectedSince - b.info.connectedSince || a.info.id.localeCompare(b.info.id));
  }

  async peerMetadata(caller: { tokenId: string; address: string }): Promise<Metadata> {
    const claims = await this.o.store.operatorClaims();
    if (!claims) throw new Error('the database has no operator token: start a replica once to make it');
    const m = new Metadata();
    m.set(METADATA.authorization, this.o.signer.sign(claims));
    m.set(METADATA.apiProtocol, formatRange(PROTOCOL_VERSIONS.api));
    m.set(REPLICA_METADATA.hop, this.o.id);
    m.set(REPLICA_METADATA.forwardedFor, `${caller.tokenId} ${caller.address}`);
    return m;
  }

  /** What is pending in the instance rows is written (tests wait on it). */
  async settled(): Promise<void> {
    await this.rows?.flushed();
  }

  /** A clean stop: the others stop forwarding here at once instead of after the timeout. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.rows?.stop();
    await this.beating;
    await this.feed?.close();
    await removeReplica(this.o.pool, this.o.id).catch((err: Error) =>
      this.o.log.warn('this replica could not remove its row: the others forget it after the timeout', { error: err.message }),
    );
  }

  private async beat(): Promise<void> {
    if (this.closed) return;
    try {
      if (!(await heartbeat(this.o.pool, this.o.id))) {
        // Forgotten (a long pause, or the database restored): join again, with every instance row.
        this.o.log.warn('this replica was forgotten by the database; joining again');
        await upsertReplica(this.o.pool, { id: this.o.id, grpcAddress: this.self.grpcAddress, httpAddress: this.self.httpAddress, version: this.o.version });
        this.rows?.rewriteAll();
      }
      if (++this.beats % TIDY_EVERY_BEATS !== 0) return;
      const failed = await this.o.execHistory.failRunning('its replica stopped answering');
      if (failed > 0) this.o.log.warn('exec sessions of a replica that stopped answering recorded as failed', { sessions: failed });
      const forgotten = await forgetSilent(this.o.pool, this.o.timeoutMs * FORGET_AFTER_TIMEOUTS);
      if (forgotten > 0) this.o.log.info('replicas silent for long forgotten', { replicas: forgotten });
    } catch (err) {
      this.o.log.warn('replica heartbeat failed: the database is unavailable; retrying', { error: (err as Error).message });
    }
  }
}

function replicaInfo(r: Pick<ReplicaRow, 'id' | 'grpc_address' | 'http_address' | 'version' | 'started_at' | 'heartbeat_at' | 'alive'>): ReplicaInfo {
  return {
    id: r.id,
    grpcAddress: r.grpc_address,
    ...(r.http_address !== null && { httpAddress: r.http_address }),
    version: r.version,
    startedAt: r.started_at,
    heartbeatAt: r.heartbeat_at,
    alive: r.alive,
  };
}

/** A row joined to its replica's; a forgotten replica is known by its id only, and not alive. */
function remote(row: InstanceRowRead): RemoteInstance {
  const replica: ReplicaInfo =
    row.grpc_address === null
      ? { id: row.replica_id, grpcAddress: '', version: '', startedAt: 0, heartbeatAt: 0, alive: false }
      : replicaInfo({ ...row, id: row.replica_id, grpc_address: row.grpc_address, version: row.version ?? '', started_at: row.started_at ?? 0, heartbeat_at: row.heartbeat_at ?? 0, alive: row.alive === true });
  return { replica, info: JSON.parse(row.info) as InstanceInfo };
}
