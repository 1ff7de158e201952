// The store the tests run on: SQLite in a temp data dir.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLog } from '../../src/server/log.js';
import { type OpenedStore, openStore } from '../../src/server/store/open.js';

export const TEST_STORE = 'sqlite';

/** Where a store lives: a temp dir (a server's data dir). */
export interface StoreLocation {
  dataDir: string;
}

/** A new, empty place for a store of the run's kind, in `root` (a temp dir the caller removes). */
export async function newStoreLocation(root: string): Promise<StoreLocation> {
  return { dataDir: path.join(root, 'data') };
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
