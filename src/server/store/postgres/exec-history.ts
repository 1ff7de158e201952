// The record of every exec session in PostgreSQL, with SQLite's semantics
// (sqlite/exec-history.ts): written when a session starts (its id is the exec index, from a
// sequence that never hands one out again) and once more when it ends.
import type { ExecFilter, ExecHistory, ExecRecord, NewExecSession } from '../store.js';
import { type ExecRow, toExecRecord } from '../rows.js';
import { DB_NOW_MS, type Pool, query } from './pool.js';


const END = "UPDATE exec_sessions SET ended_at = $1, state = $2, exit_code = $3, error = $4 WHERE id = $5 AND state = 'RUNNING'";

/** This replica, and how long another may miss its heartbeats before its sessions are failed. */
export interface ExecReplica {
  id: string;
  timeoutMs: number;
}

export class PgExecHistory implements ExecHistory {
  constructor(
    private readonly pool: Pool,
    private readonly replica: ExecReplica,
  ) {}

  async begin(session: NewExecSession, now = Date.now()): Promise<ExecRecord> {
    const { rows } = await query<{ id: number }>(
      this.pool,
      `INSERT INTO exec_sessions (app, deployment_id, instance_id, args, tty, operator_token_id, operator_address, started_at, state, replica_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'RUNNING', $9) RETURNING id`,
      [session.app, session.deploymentId, session.instanceId, JSON.stringify(session.args), session.tty, session.operatorTokenId, session.operatorAddress, now, this.replica.id],
    );
    return { ...session, id: rows[0].id, startedAt: now, state: 'RUNNING', error: '' };
  }

  /** Only the first end of a session counts. */
  async exited(id: number, code: number, now = Date.now()): Promise<void> {
    await query(this.pool, END, [now, 'EXITED', code, '', id]);
  }

  async failed(id: number, error: string, exitCode?: number, now = Date.now()): Promise<void> {
    await query(this.pool, END, [now, 'FAILED', exitCode ?? null, error, id]);
  }

  async get(id: number): Promise<ExecRecord | undefined> {
    const { rows } = await query<ExecRow>(this.pool, 'SELECT * FROM exec_sessions WHERE id = $1', [id]);
    return rows[0] && toExecRecord(rows[0]);
  }

  /** Newest first. */
  async list(filter: ExecFilter): Promise<ExecRecord[]> {
    const { rows } = await query<ExecRow>(
      this.pool,
      `SELECT * FROM exec_sessions WHERE ($1 = '' OR app = $1) AND ($2 = '' OR instance_id = $2) ORDER BY id DESC LIMIT $3`,
      [filter.app ?? '', filter.instanceId ?? '', filter.limit],
    );
    return rows.map(toExecRecord);
  }

  /** The RUNNING sessions of these replicas (known dead), failed with `reason`. */
  async failRunningOf(replicaIds: readonly string[], reason: string, now = Date.now()): Promise<number> {
    if (replicaIds.length === 0) return 0;
    const result = await query(
      this.pool,
      "UPDATE exec_sessions SET ended_at = $1, state = 'FAILED', error = $2 WHERE state = 'RUNNING' AND replica_id = ANY($3::TEXT[])",
      [now, reason, replicaIds],
    );
    return result.rowCount ?? 0;
  }

  /**
   * The sessions of replicas that are gone (stopped, or missing their heartbeats): a live
   * replica's sessions are its own to end. At start, and on every replica's heartbeat.
   */
  async failRunning(reason: string, now = Date.now()): Promise<number> {
    const result = await query(
      this.pool,
      `UPDATE exec_sessions SET ended_at = $1, state = 'FAILED', error = $2
       WHERE state = 'RUNNING' AND replica_id IS DISTINCT FROM $3
         AND (replica_id IS NULL OR replica_id NOT IN (SELECT id FROM replicas WHERE heartbeat_at > ${DB_NOW_MS} - $4))`,
      [now, reason, this.replica.id, this.replica.timeoutMs],
    );
    return result.rowCount ?? 0;
  }
}

