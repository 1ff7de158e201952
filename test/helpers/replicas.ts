// Replicas for tests: several `server run` processes on one fresh PostgreSQL database of the
// run's cluster (the PostgreSQL run only: TEST_STORE === 'postgres'), each with its own gRPC and
// HTTP ports. The first makes the operator token; the others are started with it.
import { newStoreLocation, TEST_STORE } from './store.js';
import { startServer, type StartServerOptions, type TestServer } from './server.js';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Replica tests run on PostgreSQL only; the SQLite run skips them (describe.skipIf(!REPLICAS)). */
export const REPLICAS = TEST_STORE === 'postgres';

/** A short timeout, so that a killed replica is taken as gone within a test's patience. */
export const TEST_REPLICA_TIMEOUT = '2s';

/** `opts.databaseUrl`: an empty database of a cluster of the test's own; default: a new one of the run's. */
export async function startReplicas(n: number, opts: StartServerOptions = {}): Promise<TestServer[]> {
  const databaseUrl = opts.databaseUrl ?? (await newStoreLocation(mkdtempSync(path.join(os.tmpdir(), 'wp-replicas-')))).databaseUrl;
  if (!databaseUrl) throw new Error('replicas need the PostgreSQL run (vitest.postgres.config.ts)');
  const args = ['--replica-timeout', TEST_REPLICA_TIMEOUT, ...(opts.args ?? [])];
  const first = await startServer({ ...opts, databaseUrl, args });
  const replicas = [first];
  for (let i = 1; i < n; i++) replicas.push(await startServer({ ...opts, databaseUrl, args, operatorToken: first.operatorToken }));
  return replicas;
}
