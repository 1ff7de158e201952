// Opening the server's store: SQLite in a data dir (the default: nothing to install, one server)
// or PostgreSQL at a URL (replicas share it). Either gives the same three interfaces, the token
// signing key (a file in the data dir; a row in the database, so that every replica signs
// alike), and a close.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { MIN_KEY_BYTES } from '../auth/tokens.js';
import type { ServerLog } from '../log.js';
import { DataDirError, ensureDataDir, loadOrCreateKey, STATE_FILE, type SigningKey } from './data-dir.js';
import { PgConfigStore } from './postgres/config-vars.js';
import { type ExecReplica, PgExecHistory } from './postgres/exec-history.js';
import { migrate } from './postgres/migrations.js';
import { createPool, type Pool, query, type Queryable } from './postgres/pool.js';
import { ulid } from '../../ids.js';
import { DEFAULT_REPLICA_TIMEOUT_MS } from '../options.js';
import { PgStore } from './postgres/store.js';
import { SqliteConfigStore } from './sqlite/config-vars.js';
import { openDb } from './sqlite/db.js';
import { SqliteExecHistory } from './sqlite/exec-history.js';
import { SqliteStore } from './sqlite/store.js';
import { type ConfigStore, type ExecHistory, type Store, StoreUnavailable } from './store.js';

export interface OpenedStore {
  store: Store;
  config: ConfigStore;
  execHistory: ExecHistory;
  key: SigningKey;
  /** Where the state is, for the start banner: the data dir, or the database URL without its password. */
  location: string;
  /** Set for SQLite only. */
  dataDir?: string;
  /** Set for PostgreSQL only: what the replicas share (server/replicas/). */
  database?: { pool: Pool; url: string; execHistory: PgExecHistory };
  close(): Promise<void>;
}

export interface StoreOptions {
  dataDir: string;
  /** postgres://…: PostgreSQL instead of SQLite in the data dir. */
  databaseUrl?: string;
  log: ServerLog;
  /** PostgreSQL: the replica this server is, for the exec sessions it records. */
  replica?: ExecReplica;
}

export async function openStore(opts: StoreOptions): Promise<OpenedStore> {
  if (!opts.databaseUrl) return openSqlite(opts.dataDir, opts.log);
  return openPostgres(opts.databaseUrl, opts.log, opts.replica ?? { id: ulid(), timeoutMs: DEFAULT_REPLICA_TIMEOUT_MS });
}

function openSqlite(dir: string, log: ServerLog): OpenedStore {
  const { dir: dataDir, tightened, exposed } = ensureDataDir(dir);
  if (tightened.length > 0) log.info('data dir made private: others could read it', { dir: dataDir, modes: tightened.join(', ') });
  if (exposed.length > 0) log.warn('the data dir could not be made private: other users may read secrets in it', { dir: dataDir, modes: exposed.join(', ') });
  const key = loadOrCreateKey(dataDir);
  const db = openDb(path.join(dataDir, STATE_FILE));
  return {
    store: new SqliteStore(db),
    config: new SqliteConfigStore(db),
    execHistory: new SqliteExecHistory(db),
    key,
    location: `data dir ${dataDir}`,
    dataDir,
    close: async () => void db.close(),
  };
}

const SIGNING_KEY = 'signing';

async function openPostgres(url: string, log: ServerLog, replica: ExecReplica): Promise<OpenedStore> {
  const shown = redactUrl(url);
  const pool = createPool(url, (message) => log.warn('a PostgreSQL connection was lost; the next query opens a new one', { error: message }));
  let key: SigningKey | undefined;
  try {
    const applied = await migrate(pool, async (db) => {
      key = await loadOrCreateDbKey(db);
    });
    if (applied > 0) log.info('database schema migrated', { database: shown, migrations: applied });
  } catch (err) {
    await pool.end();
    // At start nothing reconnects: the server does not start.
    const why = err instanceof StoreUnavailable ? `it is unavailable (${err.reason}): check that PostgreSQL is running there and the URL is right` : (err as Error).message;
    throw new DataDirError(`cannot open the database ${shown}: ${why}`);
  }
  const execHistory = new PgExecHistory(pool, replica);
  return {
    store: new PgStore(pool),
    config: new PgConfigStore(pool),
    execHistory,
    key: key!,
    location: `database ${shown}`,
    database: { pool, url, execHistory },
    close: () => pool.end(),
  };
}

/** The signing key shared by every replica: made by the first start, under the migration lock. */
async function loadOrCreateDbKey(db: Queryable): Promise<SigningKey> {
  const { rows } = await query<{ key: Buffer }>(db, 'SELECT key FROM server_keys WHERE name = $1', [SIGNING_KEY]);
  if (rows[0]) {
    if (rows[0].key.length < MIN_KEY_BYTES) throw new Error(`its signing key is damaged (${rows[0].key.length} bytes): restore the database from a backup`);
    return { key: rows[0].key, created: false };
  }
  const key = randomBytes(MIN_KEY_BYTES);
  await query(db, 'INSERT INTO server_keys (name, key, created_at) VALUES ($1, $2, $3)', [SIGNING_KEY, key, Date.now()]);
  return { key, created: true };
}

/** The URL without its password, for logs and banners. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable database URL)';
  }
}
