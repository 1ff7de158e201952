// `waypoint-ctl server migrate`: a SQLite server's state copied into an empty PostgreSQL
// database, table by table, in one transaction (all of it or nothing), with the signing key
// (so every token issued stays valid) and the exec ids (so no exec index is handed out again).
// The data dir is opened as a server opens it: a running server's is refused (its lock), and
// an older schema is brought up to date first.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DataDirError, KEY_FILE, loadOrCreateKey, STATE_FILE } from './data-dir.js';
import { EXCHANGES_BACKFILL, migrate } from './postgres/migrations.js';
import { createPool, LockKey, query, type Queryable, transaction } from './postgres/pool.js';
import { type Db, openDb } from './sqlite/db.js';

/**
 * Each table copied, parents before children (foreign keys), with its columns and how a SQLite
 * value becomes a PostgreSQL one. A new table of both stores is one more entry here.
 */
interface TableCopy {
  table: string;
  /** Shown in the summary. */
  noun: string;
  columns: string[];
  /** SQLite's query; default: every column, in insertion order. */
  select?: string;
  convert?: (row: Record<string, unknown>) => Record<string, unknown>;
}

const TABLES: TableCopy[] = [
  { table: 'apps', noun: 'apps', columns: ['name', 'created_at', 'file_change_signal'] },
  { table: 'deployments', noun: 'deployments', columns: ['id', 'app', 'labels', 'created_at'] },
  {
    table: 'tokens',
    noun: 'token records',
    columns: ['id', 'kind', 'deployment_id', 'parent_id', 'issued_at', 'revoked_at', 'expires_at'],
    // An entrypoint token's invite goes in before it.
    select: 'SELECT * FROM tokens ORDER BY parent_id IS NOT NULL, rowid',
  },
  { table: 'config_vars', noun: 'config vars', columns: ['app', 'name', 'kind', 'value', 'updated_at', 'dynamic_from'] },
  { table: 'config_sources', noun: 'config sources', columns: ['app', 'type', 'settings', 'updated_at'] },
  {
    table: 'exec_sessions',
    noun: 'exec sessions',
    columns: ['id', 'app', 'deployment_id', 'instance_id', 'args', 'tty', 'operator_token_id', 'operator_address', 'started_at', 'ended_at', 'state', 'exit_code', 'error'],
    convert: (row) => ({ ...row, tty: row.tty === 1 }),
  },
];

export interface CopySummary {
  counts: Array<{ noun: string; rows: number }>;
}

export class MigrateError extends Error {}

/** Copies the state of `dataDir` into the empty database at `url`. */
export async function copyToPostgres(dataDir: string, url: string): Promise<CopySummary> {
  const db = openSource(dataDir);
  const pool = createPool(url, () => undefined);
  try {
    const key = loadOrCreateKey(path.resolve(dataDir)).key;
    await migrate(pool);
    return await transaction(
      pool,
      async (tx) => {
        await refuseNonEmpty(tx);
        const counts = [];
        for (const t of TABLES) counts.push({ noun: t.noun, rows: await copyTable(db, tx, t) });
        await query(tx, EXCHANGES_BACKFILL); // each invite's count, from the entrypoint tokens copied
        await query(tx, "INSERT INTO server_keys (name, key, created_at) VALUES ('signing', $1, $2)", [key, Date.now()]);
        // The identity goes on past every copied id, and past any SQLite handed out before (AUTOINCREMENT).
        const lastId = lastExecId(db);
        if (lastId > 0) await query(tx, "SELECT setval(pg_get_serial_sequence('exec_sessions', 'id'), $1)", [lastId]);
        return { counts };
      },
      // Under the migration lock: a server starting on this database meanwhile waits for the copy.
      { lock: LockKey.migrate },
    );
  } finally {
    db.close();
    await pool.end();
  }
}

function openSource(dataDir: string): Db {
  const dir = path.resolve(dataDir);
  for (const file of [STATE_FILE, KEY_FILE]) {
    if (!existsSync(path.join(dir, file))) throw new MigrateError(`${dir} is no server data dir: it has no ${file}`);
  }
  try {
    return openDb(path.join(dir, STATE_FILE));
  } catch (err) {
    if (err instanceof DataDirError) throw new MigrateError(err.message.replace('or pass another --data-dir', 'before migrating its data dir'));
    throw err;
  }
}

const EMPTY_CHECK = [...TABLES.map((t) => t.table), 'server_keys'];

async function refuseNonEmpty(tx: Queryable): Promise<void> {
  for (const table of EMPTY_CHECK) {
    const { rows } = await query(tx, `SELECT 1 FROM ${table} LIMIT 1`);
    if (rows.length > 0) {
      throw new MigrateError(`the database is not empty (its ${table} table has rows): migrate into a new, empty database`);
    }
  }
}

/** Rows per INSERT: far below PostgreSQL's 65535 parameters for our widest table. */
const BATCH = 500;

async function copyTable(db: Db, tx: Queryable, t: TableCopy): Promise<number> {
  const rows = db.prepare(t.select ?? `SELECT * FROM ${t.table} ORDER BY rowid`).all() as Array<Record<string, unknown>>;
  for (let i = 0; i < rows.length; i += BATCH) {
    const batch = rows.slice(i, i + BATCH).map((r) => (t.convert ? t.convert(r) : r));
    const values: unknown[] = [];
    const tuples = batch.map((row) => {
      const refs = t.columns.map((c) => {
        values.push(row[c] ?? null);
        return `$${values.length}`;
      });
      return `(${refs.join(', ')})`;
    });
    await query(tx, `INSERT INTO ${t.table} (${t.columns.join(', ')}) VALUES ${tuples.join(', ')}`, values);
  }
  return rows.length;
}

function lastExecId(db: Db): number {
  const max = (db.prepare('SELECT MAX(id) AS id FROM exec_sessions').get() as { id: number | null }).id ?? 0;
  const seq = db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'exec_sessions'").get() as { seq: number } | undefined;
  return Math.max(max, seq?.seq ?? 0);
}
