// The record of every exec session, in SQLite: who ran what where, when, and how it ended. A
// session is written before its instance hears of it (its id is the exec index), and again once
// when it ends; a session still RUNNING when the server starts was cut by a crash.
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { ExecFilter, ExecHistory, ExecRecord, NewExecSession } from '../store.js';
import { type ExecRow, toExecRecord } from '../rows.js';


export class SqliteExecHistory implements ExecHistory {
  private readonly q: Record<string, Statement>;

  constructor(db: Db) {
    const list = (where: string) => db.prepare(`SELECT * FROM exec_sessions ${where} ORDER BY id DESC LIMIT ?`);
    this.q = {
      insert: db.prepare(
        `INSERT INTO exec_sessions (app, deployment_id, instance_id, args, tty, operator_token_id, operator_address, started_at, state)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'RUNNING')`,
      ),
      end: db.prepare("UPDATE exec_sessions SET ended_at = ?, state = ?, exit_code = ?, error = ? WHERE id = ? AND state = 'RUNNING'"),
      get: db.prepare('SELECT * FROM exec_sessions WHERE id = ?'),
      failRunning: db.prepare("UPDATE exec_sessions SET ended_at = ?, state = 'FAILED', error = ? WHERE state = 'RUNNING'"),
      all: list(''),
      app: list('WHERE app = ?'),
      instance: list('WHERE instance_id = ?'),
      both: list('WHERE app = ? AND instance_id = ?'),
    };
  }

  /** Records a RUNNING session and returns it (its id is the exec index). */
  async begin(session: NewExecSession, now = Date.now()): Promise<ExecRecord> {
    const result = this.q.insert.run(
      session.app,
      session.deploymentId,
      session.instanceId,
      JSON.stringify(session.args),
      session.tty ? 1 : 0,
      session.operatorTokenId,
      session.operatorAddress,
      now,
    );
    return { ...session, id: Number(result.lastInsertRowid), startedAt: now, state: 'RUNNING', error: '' };
  }

  /** The command ran and exited with `code`. Only the first end of a session counts. */
  async exited(id: number, code: number, now = Date.now()): Promise<void> {
    this.q.end.run(now, 'EXITED', code, '', id);
  }

  /** The session could not run or broke: `error` says why. */
  async failed(id: number, error: string, exitCode?: number, now = Date.now()): Promise<void> {
    this.q.end.run(now, 'FAILED', exitCode ?? null, error, id);
  }

  async get(id: number): Promise<ExecRecord | undefined> {
    const row = this.q.get.get(id) as ExecRow | undefined;
    return row && toExecRecord(row);
  }

  /** Newest first. */
  async list(filter: ExecFilter): Promise<ExecRecord[]> {
    const { app, instanceId, limit } = filter;
    let rows: unknown[];
    if (app && instanceId) rows = this.q.both.all(app, instanceId, limit);
    else if (app) rows = this.q.app.all(app, limit);
    else if (instanceId) rows = this.q.instance.all(instanceId, limit);
    else rows = this.q.all.all(limit);
    return (rows as ExecRow[]).map(toExecRecord);
  }

  /** At start: sessions a previous run left RUNNING died with it. Returns how many. */
  async failRunning(reason: string, now = Date.now()): Promise<number> {
    return this.q.failRunning.run(now, reason).changes;
  }
}

