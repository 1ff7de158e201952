// App config in SQLite: the vars of each scope ('' global, or an app) and each app's file change
// signal, and the config sources' settings of each scope. A change is one transaction: all of
// its sets and unsets, or none.
import type { Statement } from 'better-sqlite3';
import type { StoredVar } from '../../config/resolve.js';
import type { Db } from './db.js';
import { type ConfigStore, StoreError, type StoredSource, type VarChange } from '../store.js';
import { type SourceRow, toStoredSource, toStoredVar, type VarRow } from '../rows.js';



export class SqliteConfigStore implements ConfigStore {
  private readonly q: Record<string, Statement>;

  constructor(private readonly db: Db) {
    this.q = {
      vars: db.prepare('SELECT * FROM config_vars WHERE app = ? ORDER BY name'),
      upsert: db.prepare(
        `INSERT INTO config_vars (app, name, kind, value, updated_at, dynamic_from) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (app, name) DO UPDATE SET kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at,
           dynamic_from = excluded.dynamic_from`,
      ),
      sources: db.prepare('SELECT * FROM config_sources WHERE app = ? ORDER BY type'),
      upsertSource: db.prepare(
        `INSERT INTO config_sources (app, type, settings, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (app, type) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
      ),
      removeSource: db.prepare('DELETE FROM config_sources WHERE app = ? AND type = ?'),
      remove: db.prepare('DELETE FROM config_vars WHERE app = ? AND name = ?'),
      insertApp: db.prepare('INSERT OR IGNORE INTO apps (name, created_at) VALUES (?, ?)'),
      app: db.prepare('SELECT file_change_signal FROM apps WHERE name = ?'),
      setSignal: db.prepare('UPDATE apps SET file_change_signal = ? WHERE name = ?'),
      apps: db.prepare('SELECT name FROM apps ORDER BY name'),
    };
  }

  /** The vars of one scope ('' global), by name. */
  async vars(app: string): Promise<StoredVar[]> {
    return (this.q.vars.all(app) as VarRow[]).map(toStoredVar);
  }

  async sources(app: string): Promise<StoredSource[]> {
    return (this.q.sources.all(app) as SourceRow[]).map(toStoredSource);
  }

  async setSource(app: string, type: string, settings: Record<string, string>): Promise<void> {
    const now = Date.now();
    this.db.transaction(() => {
      if (app !== '') this.q.insertApp.run(app, now);
      this.q.upsertSource.run(app, type, JSON.stringify(settings), now);
    })();
  }

  async unsetSource(app: string, type: string): Promise<boolean> {
    return this.q.removeSource.run(app, type).changes > 0;
  }

  /**
   * Sets and unsets in one scope, all or nothing. An app named here is created when new, so its
   * config can be set before its first deployment. Unsetting a name not set there is an error.
   */
  async apply(app: string, set: VarChange[], unset: string[]): Promise<void> {
    const now = Date.now();
    this.db.transaction(() => {
      if (app !== '') this.q.insertApp.run(app, now);
      for (const name of unset) {
        if (this.q.remove.run(app, name).changes === 0) {
          throw new StoreError(`${JSON.stringify(name)} is not set ${app === '' ? 'globally' : `for app ${app}`}: nothing to unset`);
        }
      }
      for (const v of set) this.q.upsert.run(app, v.name, v.kind, v.value, now, v.dynamicFrom ?? null);
    })();
  }

  /** Every app known (deployed, or with config or a signal of its own), by name. */
  async apps(): Promise<string[]> {
    return (this.q.apps.all() as Array<{ name: string }>).map((r) => r.name);
  }

  async appExists(app: string): Promise<boolean> {
    return this.q.app.get(app) !== undefined;
  }

  /** '' when none is set (or the app does not exist). */
  async fileChangeSignal(app: string): Promise<string> {
    const row = this.q.app.get(app) as { file_change_signal: string } | undefined;
    return row?.file_change_signal ?? '';
  }

  async setFileChangeSignal(app: string, signal: string): Promise<void> {
    this.db.transaction(() => {
      this.q.insertApp.run(app, Date.now());
      this.q.setSignal.run(signal, app);
    })();
  }
}
