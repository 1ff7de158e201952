// The record of every exec session in PostgreSQL, with SQLite's semantics
// (sqlite/exec-history.ts): written when a session starts (its id is the exec index, from a
// sequence that never hands one out again) and once more when it ends.
import type { ExecFilter, ExecHistory, ExecRecord, ExecState, NewExecSession } from '../store.js';
import { type Pool, query } from './pool.js';

interface Row {
  id: number;
  app: string;
  deployment_id: string;
  instance_id: string;
  args: string;
  tty: boolean;
  operator_token_id: string;
  operator_address: string;
  started_at: number;
  ended_at: number | null;
  state: ExecState;
  exit_code: number | null;
  error: string;
}

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
    const { rows } = await query<Row>(this.pool, 'SELECT * FROM exec_sessions WHERE id = $1', [id]);
    return rows[0] && toRecord(rows[0]);
  }

  /** Newest first. */
  async list(filter: ExecFilter): Promise<ExecRecord[]> {
    const { rows } = await query<Row>(
      this.pool,
      `SELECT * FROM exec_sessions WHERE ($1 = '' OR app = $1) AND ($2 = '' OR instance_id = $2) ORDER BY id DESC LIMIT $3`,
      [filter.app ?? '', filter.instanceId ?? '', filter.limit],
    );
    return rows.map(toRecord);
  }

  async failRunning(reason: string, now = Date.now()): Promise<number> {
    const result = await query(this.pool, "UPDATE exec_sessions SET ended_at = $1, state = 'FAILED', error = $2 WHERE state = 'RUNNING'", [now, reason]);
    return result.rowCount ?? 0;
  }
}

function toRecord(row: Row): ExecRecord {
  return {
    id: row.id,
    app: row.app,
    deploymentId: row.deployment_id,
    instanceId: row.instance_id,
    args: JSON.parse(row.args) as string[],
    tty: row.tty,
    operatorTokenId: row.operator_token_id,
    operatorAddress: row.operator_address,
    startedAt: row.started_at,
    ...(row.ended_at !== null && { endedAt: row.ended_at }),
    state: row.state,
    ...(row.exit_code !== null && { exitCode: row.exit_code }),
    error: row.error,
  };
}
