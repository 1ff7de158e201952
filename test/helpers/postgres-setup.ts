// vitest's globalSetup of the PostgreSQL run (vitest.postgres.config.ts): one throwaway cluster
// for the whole run; each test server and store gets a database of its own in it (store.ts).
import type { TestProject } from 'vitest/node';
import { startPostgres } from './postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The URL of the run's cluster's `postgres` database, to create others through. */
    pgAdminUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const cluster = await startPostgres();
  project.provide('pgAdminUrl', cluster.url());
  return () => cluster.stop();
}
