// Opening the server's store: SQLite in a data dir. It gives the three interfaces of store.ts,
// the token signing key (a file in the data dir), and a close.
import path from 'node:path';
import type { ServerLog } from '../log.js';
import { ensureDataDir, loadOrCreateKey, STATE_FILE, type SigningKey } from './data-dir.js';
import { SqliteConfigStore } from './sqlite/config-vars.js';
import { openDb } from './sqlite/db.js';
import { SqliteExecHistory } from './sqlite/exec-history.js';
import { SqliteStore } from './sqlite/store.js';
import type { ConfigStore, ExecHistory, Store } from './store.js';

export interface OpenedStore {
  store: Store;
  config: ConfigStore;
  execHistory: ExecHistory;
  key: SigningKey;
  /** Where the state is, for the start banner. */
  location: string;
  dataDir?: string;
  close(): Promise<void>;
}

export interface StoreOptions {
  dataDir: string;
  log: ServerLog;
}

export async function openStore(opts: StoreOptions): Promise<OpenedStore> {
  return openSqlite(opts.dataDir, opts.log);
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
