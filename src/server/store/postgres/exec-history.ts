// The record of every exec session in PostgreSQL, with SQLite's semantics
// (sqlite/exec-history.ts): written when a session starts (its id is the exec index, from a
// sequence that never hands one out again) and once more when it ends.
import type { ExecFilter, ExecHistory, ExecRecord, NewExecSession } from '../store.js';
import { type ExecRow, toExecRecord } from '../rows.js';
import { type Pool, query } from './pool.js';


const END = "UPDATE exec_sessions SET ended_at = $1, state = $2, exit_code = $3, error = $4 WHERE id = $5 AND state = 'RUNNING'";

export class PgExecHistory implements ExecHistory {
  constructor(private readonly pool: Pool) {}

  async begin(session: NewExecSession, now = Date.now()): Promise<ExecRecord> {
    const { rows } = await query<{ id: number }>(
      this.pool,
      `INSERT INTO exec_sessions (app, deployment_id, instance_id, args, tty, operator_token_id, operator_address, started_at, state)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'RUNNING') RETURNING id`,
      [session.app, session.deploymentId, session.instanceId, JSON.stringify(session.args), session.tty, session.operatorTokenId, session.operatorAddress, now],
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

  async failRunning(reason: string, now = Date.now()): Promise<number> {
    const result = await query(this.pool, "UPDATE exec_sessions SET ended_at = $1, state = 'FAILED', error = $2 WHERE state = 'RUNNING'", [now, reason]);
    return result.rowCount ?? 0;
  }
}

