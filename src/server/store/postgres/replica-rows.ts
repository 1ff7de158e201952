// The replicas' own tables (migration 3): one row per running server, refreshed by its
// heartbeat, and the live instances each one holds. Only server/replicas/ calls these.
import { DB_NOW_MS, type Pool, query, type Queryable, transaction } from './pool.js';

export interface ReplicaRow {
  id: string;
  grpc_address: string;
  http_address: string | null;
  version: string;
  started_at: number;
  heartbeat_at: number;
  alive: boolean;
  instances?: number;
}

export interface NewReplica {
  id: string;
  grpcAddress: string;
  httpAddress?: string;
  version: string;
}

/** An instance row as written: its id, app, deployment and the replica's InstanceInfo as JSON. */
export interface InstanceRowWrite {
  id: string;
  app: string;
  deploymentId: string;
  info: string;
}

export interface InstanceRowRead {
  info: string;
  replica_id: string;
  /** The replica's columns; NULL when it is forgotten. */
  grpc_address: string | null;
  http_address: string | null;
  version: string | null;
  started_at: number | null;
  heartbeat_at: number | null;
  alive: boolean | null;
}

const ALIVE = `(heartbeat_at > ${DB_NOW_MS} - $1::BIGINT)`;

/** Registers this replica (again, after its row was dropped) with a fresh heartbeat. */
export async function upsertReplica(db: Queryable, r: NewReplica): Promise<void> {
  await query(
    db,
    `INSERT INTO replicas (id, grpc_address, http_address, version, started_at, heartbeat_at)
     VALUES ($1, $2, $3, $4, ${DB_NOW_MS}, ${DB_NOW_MS})
     ON CONFLICT (id) DO UPDATE SET heartbeat_at = EXCLUDED.heartbeat_at, grpc_address = EXCLUDED.grpc_address, http_address = EXCLUDED.http_address`,
    [r.id, r.grpcAddress, r.httpAddress ?? null, r.version],
  );
}

/**
 * Removes the rows of other replicas at `grpcAddress` (and their instance rows): two live
 * replicas cannot share an address, so those are this server's earlier runs, dead. Returns their ids.
 */
export async function replaceSameAddress(pool: Pool, id: string, grpcAddress: string): Promise<string[]> {
  return transaction(pool, async (db) => {
    const { rows } = await query<{ id: string }>(db, 'DELETE FROM replicas WHERE grpc_address = $1 AND id <> $2 RETURNING id', [grpcAddress, id]);
    const ids = rows.map((r) => r.id);
    if (ids.length > 0) await query(db, 'DELETE FROM live_instances WHERE replica_id = ANY($1::TEXT[])', [ids]);
    return ids;
  });
}

/** False when the row is gone (forgotten by the others, or a database restored from a backup). */
export async function heartbeat(db: Queryable, id: string): Promise<boolean> {
  const result = await query(db, `UPDATE replicas SET heartbeat_at = ${DB_NOW_MS} WHERE id = $1`, [id]);
  return (result.rowCount ?? 0) > 0;
}

/** Forgets replicas silent for `forgetMs`, and the instance rows they left (one indexed delete, only when there are some). */
export async function forgetSilent(pool: Pool, forgetMs: number): Promise<number> {
  return transaction(pool, async (db) => {
    const { rows } = await query<{ id: string }>(db, `DELETE FROM replicas WHERE NOT (heartbeat_at > ${DB_NOW_MS} - $1::BIGINT) RETURNING id`, [forgetMs]);
    const ids = rows.map((r) => r.id);
    if (ids.length > 0) await query(db, 'DELETE FROM live_instances WHERE replica_id = ANY($1::TEXT[])', [ids]);
    return ids.length;
  });
}

export async function listReplicas(db: Queryable, timeoutMs: number): Promise<ReplicaRow[]> {
  const { rows } = await query<ReplicaRow>(
    db,
    `SELECT *, ${ALIVE} AS alive, (SELECT COUNT(*) FROM live_instances li WHERE li.replica_id = replicas.id) AS instances
     FROM replicas ORDER BY ${ALIVE} DESC, started_at, id`,
    [timeoutMs],
  );
  return rows;
}

export async function removeReplica(pool: Pool, id: string): Promise<void> {
  await transaction(pool, async (db) => {
    await query(db, 'DELETE FROM live_instances WHERE replica_id = $1', [id]);
    await query(db, 'DELETE FROM replicas WHERE id = $1', [id]);
  });
}

/** Writes this replica's changes: rows added or updated, and rows removed (only while still its own). */
export async function writeInstances(pool: Pool, replicaId: string, upserts: InstanceRowWrite[], removals: string[]): Promise<void> {
  await transaction(pool, async (db) => {
    if (removals.length > 0) await query(db, 'DELETE FROM live_instances WHERE replica_id = $1 AND id = ANY($2::TEXT[])', [replicaId, removals]);
    if (upserts.length > 0) await insertInstances(db, replicaId, upserts);
  });
}

/** Makes this replica's rows exactly `all` (after a write was lost: the database was away). */
export async function replaceInstances(pool: Pool, replicaId: string, all: InstanceRowWrite[]): Promise<void> {
  await transaction(pool, async (db) => {
    await query(db, 'DELETE FROM live_instances WHERE replica_id = $1', [replicaId]);
    if (all.length > 0) await insertInstances(db, replicaId, all);
  });
}

/** One statement for any number of rows (arrays unnested); an instance that moved here is taken over. */
async function insertInstances(db: Queryable, replicaId: string, rows: InstanceRowWrite[]): Promise<void> {
  await query(
    db,
    `INSERT INTO live_instances (id, replica_id, app, deployment_id, info, updated_at)
     SELECT u.id, $1, u.app, u.deployment_id, u.info, ${DB_NOW_MS}
     FROM unnest($2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[]) AS u(id, app, deployment_id, info)
     ON CONFLICT (id) DO UPDATE SET replica_id = EXCLUDED.replica_id, app = EXCLUDED.app,
       deployment_id = EXCLUDED.deployment_id, info = EXCLUDED.info, updated_at = EXCLUDED.updated_at`,
    [replicaId, rows.map((r) => r.id), rows.map((r) => r.app), rows.map((r) => r.deploymentId), rows.map((r) => r.info)],
  );
}

const INSTANCE_SELECT = `SELECT li.info, li.replica_id, r.grpc_address, r.http_address, r.version, r.started_at, r.heartbeat_at,
  (r.heartbeat_at > ${DB_NOW_MS} - $1::BIGINT) AS alive
  FROM live_instances li LEFT JOIN replicas r ON r.id = li.replica_id`;

/** Instance rows of other replicas than `self`, by id, app or deployment (empty: any). */
export async function otherInstances(
  db: Queryable,
  self: string,
  timeoutMs: number,
  filter: { id?: string; app?: string; deploymentId?: string },
): Promise<InstanceRowRead[]> {
  const { rows } = await query<InstanceRowRead>(
    db,
    `${INSTANCE_SELECT} WHERE li.replica_id <> $2 AND ($3 = '' OR li.id = $3) AND ($4 = '' OR li.app = $4) AND ($5 = '' OR li.deployment_id = $5) ORDER BY li.id`,
    [timeoutMs, self, filter.id ?? '', filter.app ?? '', filter.deploymentId ?? ''],
  );
  return rows;
}

/** The token ids among `ids` that are revoked now: what a replica that missed notifications checks. */
export async function revokedAmong(db: Queryable, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await query<{ id: string }>(db, 'SELECT id FROM tokens WHERE id = ANY($1::TEXT[]) AND revoked_at IS NOT NULL', [ids]);
  return rows.map((r) => r.id);
}
