// The web console's session records in PostgreSQL (migration 4), shared by the replicas: the
// same contract as the in-memory ones of a single server (console/session-records.ts).
import type { Session, SessionRecords } from '../../console/session-records.js';
import { type Pool, query, transaction } from './pool.js';

interface SessionRow {
  key: string;
  token_id: string;
  csrf: string;
  expires_at: number;
}

const toSession = (r: SessionRow): Session => ({ key: r.key, tokenId: r.token_id, csrf: r.csrf, expiresAt: r.expires_at });

export class PgSessionRecords implements SessionRecords {
  constructor(private readonly pool: Pool) {}

  async add(session: Session, max: number): Promise<string[]> {
    return transaction(this.pool, async (db) => {
      // Those expiring first make room (a flood of sign-ins, each with the operator token, cannot grow it).
      const { rows } = await query<{ key: string }>(
        db,
        `DELETE FROM console_sessions WHERE key IN (
           SELECT key FROM console_sessions ORDER BY expires_at, key
           LIMIT GREATEST(0, (SELECT COUNT(*) FROM console_sessions) - $1 + 1)) RETURNING key`,
        [max],
      );
      await query(db, 'INSERT INTO console_sessions (key, token_id, csrf, expires_at) VALUES ($1, $2, $3, $4)', [
        session.key,
        session.tokenId,
        session.csrf,
        session.expiresAt,
      ]);
      return rows.map((r) => r.key);
    });
  }

  async get(key: string): Promise<Session | undefined> {
    const { rows } = await query<SessionRow>(this.pool, 'SELECT * FROM console_sessions WHERE key = $1', [key]);
    return rows[0] && toSession(rows[0]);
  }

  async remove(keys: readonly string[]): Promise<void> {
    if (keys.length > 0) await query(this.pool, 'DELETE FROM console_sessions WHERE key = ANY($1::TEXT[])', [keys]);
  }

  async removeTokens(tokenIds: readonly string[]): Promise<string[]> {
    if (tokenIds.length === 0) return [];
    const { rows } = await query<{ key: string }>(this.pool, 'DELETE FROM console_sessions WHERE token_id = ANY($1::TEXT[]) RETURNING key', [tokenIds]);
    return rows.map((r) => r.key);
  }

  async removeExpired(now: number): Promise<string[]> {
    const { rows } = await query<{ key: string }>(this.pool, 'DELETE FROM console_sessions WHERE expires_at <= $1 RETURNING key', [now]);
    return rows.map((r) => r.key);
  }
}
