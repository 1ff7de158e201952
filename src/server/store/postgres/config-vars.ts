// App config in PostgreSQL, with SQLite's semantics (sqlite/config-vars.ts): the vars of each
// scope ('' global, or an app), each app's file change signal, and the config sources' settings
// of each scope; a change is one transaction.
import type { StoredVar } from '../../config/resolve.js';
import { type ConfigStore, StoreError, type StoredSource, type VarChange } from '../store.js';
import { type SourceRow, toStoredSource, toStoredVar, type VarRow } from '../rows.js';
import { type Pool, query, transaction } from './pool.js';



const INSERT_APP = 'INSERT INTO apps (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING';

export class PgConfigStore implements ConfigStore {
  constructor(private readonly pool: Pool) {}

  async vars(app: string): Promise<StoredVar[]> {
    const { rows } = await query<VarRow>(this.pool, 'SELECT * FROM config_vars WHERE app = $1 ORDER BY name', [app]);
    return rows.map(toStoredVar);
  }

  async sources(app: string): Promise<StoredSource[]> {
    const { rows } = await query<SourceRow>(this.pool, 'SELECT * FROM config_sources WHERE app = $1 ORDER BY type', [app]);
    return rows.map(toStoredSource);
  }

  async setSource(app: string, type: string, settings: Record<string, string>): Promise<void> {
    const now = Date.now();
    await transaction(this.pool, async (db) => {
      if (app !== '') await query(db, INSERT_APP, [app, now]);
      await query(
        db,
        `INSERT INTO config_sources (app, type, settings, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (app, type) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
        [app, type, JSON.stringify(settings), now],
      );
    });
  }

  async unsetSource(app: string, type: string): Promise<boolean> {
    const { rowCount } = await query(this.pool, 'DELETE FROM config_sources WHERE app = $1 AND type = $2', [app, type]);
    return (rowCount ?? 0) > 0;
  }

  /**
   * All or nothing; an app named here is created when new; unsetting a name not set is an error.
   * One statement for the unsets and one for the sets, however many (a change may hold thousands).
   */
  async apply(app: string, set: VarChange[], unset: string[]): Promise<void> {
    const now = Date.now();
    await transaction(this.pool, async (db) => {
      if (app !== '') await query(db, INSERT_APP, [app, now]);
      if (unset.length > 0) {
        const { rows } = await query<{ name: string }>(db, 'DELETE FROM config_vars WHERE app = $1 AND name = ANY($2::text[]) RETURNING name', [app, unset]);
        const removed = new Set(rows.map((r) => r.name));
        const missing = unset.find((name) => !removed.has(name));
        if (missing !== undefined) {
          throw new StoreError(`${JSON.stringify(missing)} is not set ${app === '' ? 'globally' : `for app ${app}`}: nothing to unset`);
        }
      }
      if (set.length > 0) {
        await query(
          db,
          `INSERT INTO config_vars (app, name, kind, value, updated_at, dynamic_from)
           SELECT $1, v.name, v.kind, v.value, $2, v.dynamic_from
             FROM unnest($3::text[], $4::text[], $5::bytea[], $6::text[]) AS v(name, kind, value, dynamic_from)
           ON CONFLICT (app, name) DO UPDATE SET kind = excluded.kind, value = excluded.value, updated_at = excluded.updated_at,
             dynamic_from = excluded.dynamic_from`,
          [app, now, set.map((v) => v.name), set.map((v) => v.kind), set.map((v) => v.value), set.map((v) => v.dynamicFrom ?? null)],
        );
      }
    });
  }

  async apps(): Promise<string[]> {
    const { rows } = await query<{ name: string }>(this.pool, 'SELECT name FROM apps ORDER BY name');
    return rows.map((r) => r.name);
  }

  async appExists(app: string): Promise<boolean> {
    const { rows } = await query(this.pool, 'SELECT 1 FROM apps WHERE name = $1', [app]);
    return rows.length > 0;
  }

  async fileChangeSignal(app: string): Promise<string> {
    const { rows } = await query<{ file_change_signal: string }>(this.pool, 'SELECT file_change_signal FROM apps WHERE name = $1', [app]);
    return rows[0]?.file_change_signal ?? '';
  }

  async setFileChangeSignal(app: string, signal: string): Promise<void> {
    await query(
      this.pool,
      `INSERT INTO apps (name, created_at, file_change_signal) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET file_change_signal = excluded.file_change_signal`,
      [app, Date.now(), signal],
    );
  }
}
