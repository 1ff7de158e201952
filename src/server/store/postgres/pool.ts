// The connection pool every PostgreSQL store shares, and the two ways to use it: one query, or a
// transaction on one connection. A lost connection never crashes the server: the pool drops
// the broken client and opens a new one for the next query, and the query that met the loss
// fails with one line (StoreUnavailable, UNAVAILABLE to a caller).
import pg from 'pg';
import { StoreUnavailable } from '../store.js';

export type Pool = pg.Pool;
export type Queryable = Pick<pg.PoolClient, 'query'>;

/** How long a query waits for a connection (PostgreSQL down: new ones are refused or hang). */
const CONNECT_TIMEOUT_MS = 5_000;
const MAX_CONNECTIONS = 10;
const INT8_OID = 20;

/**
 * A pool on `url`. BIGINT columns (times in ms, ids) come back as numbers: every one we store
 * is far below 2^53. `onIdleError` hears of a connection lost while nothing used it.
 */
export function createPool(url: string, onIdleError: (message: string) => void): Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: MAX_CONNECTIONS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    application_name: 'waypoint-ctl server',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  pool.on('error', (err) => onIdleError(err.message));
  return pool;
}

/** One statement, its connection errors made StoreUnavailable. */
export async function query<R extends pg.QueryResultRow>(db: Queryable, text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
  try {
    return await db.query<R>(text, values);
  } catch (err) {
    throw unavailable(err);
  }
}

export interface TxOptions {
  /** Taken first, released at commit: one transaction at a time per key across every replica. */
  lock?: LockKey;
}

/**
 * Runs `fn` in a transaction on one connection: committed when it returns, rolled back when it
 * throws (its error is what the caller gets). A connection broken meanwhile is not reused.
 */
export async function transaction<T>(pool: Pool, fn: (tx: Queryable) => Promise<T>, opts: TxOptions = {}): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (err) {
    throw unavailable(err);
  }
  let broken: Error | undefined;
  // A checked-out client has no listener of the pool's: a connection lost between two statements
  // would be an unhandled 'error' (a crash). It is the next statement's error instead.
  const onError = (err: Error) => (broken = err);
  client.on('error', onError);
  try {
    await query(client, 'BEGIN');
    if (opts.lock !== undefined) await query(client, 'SELECT pg_advisory_xact_lock($1)', [opts.lock]);
    const result = await fn(client);
    await query(client, 'COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((e: Error) => (broken = e));
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/**
 * Advisory lock keys of this server's database (one namespace per database). Append only: a key
 * is never given another meaning, as replicas of two versions may run at once.
 */
export const LockKey = {
  /** Schema migrations and the server key, at start. */
  migrate: 7_461_001,
  /** The operator token: made once, rotated one at a time. */
  operator: 7_461_002,
} as const;
export type LockKey = (typeof LockKey)[keyof typeof LockKey];

/** Now in ms on the database's clock: replicas compare heartbeats on one clock, not on theirs. */
export const DB_NOW_MS = '(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT';

/** SQLSTATE classes of a database that cannot be reached or is going away (08, 57P0x). */
const UNAVAILABLE_STATES = /^(08|57P0[1-3])/;
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT']);

/** A connection error as StoreUnavailable (one line); any other error as it is. */
export function unavailable(err: unknown): unknown {
  if (err instanceof StoreUnavailable) return err;
  const e = err as { code?: string; message?: string };
  const lost = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection refused/i;
  const isLoss = (e.code !== undefined && (UNAVAILABLE_CODES.has(e.code) || UNAVAILABLE_STATES.test(e.code))) || lost.test(e.message ?? '');
  if (!isLoss) return err;
  const reason = (e.message ?? String(err)).split('\n')[0];
  return new StoreUnavailable(reason);
}
