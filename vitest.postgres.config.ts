// The PostgreSQL run of "one suite, two stores": the server's integration suite and the store's
// tests again, each server and store on a database of its own in one throwaway cluster
// (test/helpers/postgres-setup.ts). `npm test` runs it after the default (SQLite) run.
import { configDefaults, defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/integration/server/**/*.test.ts', 'test/unit/server/store/**/*.test.ts', 'test/unit/server/auth/token-store.test.ts'],
    // The SQLite data dir's own tests (its modes, a full disk under it): a server on PostgreSQL has none.
    exclude: [...configDefaults.exclude, 'test/integration/server/store/data-dir.test.ts'],
    globalSetup: ['test/helpers/postgres-setup.ts'],
    env: { WAYPOINT_TEST_STORE: 'postgres' },
  },
});
