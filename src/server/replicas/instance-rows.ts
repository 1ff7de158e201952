// Keeps this replica's rows of live_instances in step with its registry, so that the others find
// where an instance is connected. Writes are behind the registry, never in its way: changes are
// coalesced per instance and written in one statement per batch (a fleet registering is a few
// hundred statements, not ten thousand). A batch that fails (the database away) is not retried
// as is: the next write replaces every row of this replica with what the registry holds then.
import type { InstanceInfo, InstanceRegistry } from '../instances/registry.js';
import type { ServerLog } from '../log.js';
import type { Pool } from '../store/postgres/pool.js';
import { type InstanceRowWrite, replaceInstances, writeInstances } from '../store/postgres/replica-rows.js';

/** How long changes gather before a write: a burst of registrations becomes one statement. */
const GATHER_MS = 25;
const RETRY_MS = 1_000;

export class InstanceRows {
  /** Per instance id: its info to write, or null to remove its row. */
  private pending = new Map<string, InstanceInfo | null>();
  private replaceAll = true;
  private writing = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly unsubscribe: () => void;
  /** Resolved when nothing is pending or being written (tests and a clean stop wait for it). */
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly pool: Pool,
    private readonly replicaId: string,
    private readonly registry: InstanceRegistry,
    private readonly log: ServerLog,
  ) {
    this.unsubscribe = registry.onChange(({ kind, info }) => {
      this.pending.set(info.id, kind === 'removed' ? null : info);
      this.schedule(GATHER_MS);
    });
    this.schedule(0);
  }

  /** Every row rewritten at the next write: after this replica's row was dropped, or a resync. */
  rewriteAll(): void {
    this.replaceAll = true;
    this.schedule(0);
  }

  /** Waits until what is pending now is written (or has failed). */
  flushed(): Promise<void> {
    if (!this.writing && !this.timer) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.unsubscribe();
    this.wake();
  }

  private schedule(ms: number): void {
    if (this.stopped || this.timer || this.writing) return;
    this.timer = setTimeout(() => void this.write(), ms);
  }

  private async write(): Promise<void> {
    this.timer = undefined;
    this.writing = true;
    const batch = this.pending;
    this.pending = new Map();
    const all = this.replaceAll;
    this.replaceAll = false;
    let retry = false;
    try {
      if (all) {
        await replaceInstances(this.pool, this.replicaId, this.registry.list().map(row));
      } else {
        const upserts: InstanceRowWrite[] = [];
        const removals: string[] = [];
        for (const [id, info] of batch) {
          if (info) upserts.push(row(info));
          else removals.push(id);
        }
        await writeInstances(this.pool, this.replicaId, upserts, removals);
      }
    } catch (err) {
      this.replaceAll = true;
      retry = true;
      this.log.warn('live instances not written to the database: written again when it answers', { error: (err as Error).message });
    } finally {
      this.writing = false;
    }
    if (this.stopped) return this.wake();
    if (retry) return this.schedule(RETRY_MS);
    if (this.pending.size > 0 || this.replaceAll) return this.schedule(GATHER_MS);
    this.wake();
  }

  private wake(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

function row(info: InstanceInfo): InstanceRowWrite {
  return { id: info.id, app: info.app, deploymentId: info.deploymentId, info: JSON.stringify(info) };
}
