// The store the tests run on: SQLite in a temp data dir (the default), or, when
// WAYPOINT_TEST_STORE=postgres (vitest.postgres.config.ts sets it), a fresh database of the run's
// PostgreSQL cluster. Test servers (server.ts) and store tests (openTestStore) both use it: one
// suite, two stores.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inject } from 'vitest';
import { silentLog } from '../../src/server/log.js';
import type { OpenedStore } from '../../src/server/store/open.js';
import { createDatabase } from './postgres.js';

export type TestStoreKind = 'sqlite' | 'postgres';

export const TEST_STORE: TestStoreKind = process.env.WAYPOINT_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

/** Where a store lives: always a temp dir (a server's data dir), and a database on PostgreSQL. */
export interface StoreLocation {
  dataDir: string;
  databaseUrl?: string;
}

/** A new, empty place for a store of the run's kind, in `root` (a temp dir the caller removes). */
export async function newStoreLocation(root: string): Promise<StoreLocation> {
  const dataDir = path.join(root, 'data');
  if (TEST_STORE === 'sqlite') return { dataDir };
  return { dataDir, databaseUrl: await createDatabase(inject('pgAdminUrl')) };
}

const opened = new Set<OpenedStore>();
const roots = new Set<string>();

/** A fresh store of the run's kind (or `at` an existing location, e.g. to reopen one); closeTestStores() closes it. */
export async function openTestStore(at?: StoreLocation): Promise<OpenedStore & { at: StoreLocation }> {
  let location = at;
  if (!location) {
    const root = mkdtempSync(path.join(os.tmpdir(), 'wp-store-test-'));
    roots.add(root);
    location = await newStoreLocation(root);
  }
  // Loaded here, not at the top: every test that starts a server imports this module, and only store tests open one.
  const { openStore } = await import('../../src/server/store/open.js');
  const store = await openStore({ ...location, log: silentLog });
  opened.add(store);
  return { ...store, at: location, close: async () => closeOne(store) };
}

async function closeOne(store: OpenedStore): Promise<void> {
  if (!opened.delete(store)) return;
  await store.close();
}

/** For afterEach: closes every store opened and removes their dirs. */
export async function closeTestStores(): Promise<void> {
  for (const s of [...opened]) await closeOne(s);
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  roots.clear();
}
