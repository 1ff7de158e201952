// Apps, deployments and token records in PostgreSQL, with SQLite's semantics (sqlite/store.ts).
// What SQLite got from one process holding the database, this gets from locks: an exchange
// locks its invite's row (so it sees every earlier exchange and any revocation), a revocation
// locks the token's, and the operator token is made and rotated under an advisory lock.
import { ulid } from '../../../ids.js';
import { type DeploymentRow, toDeployment, toToken, type TokenRow } from '../rows.js';
import { APP_NAME } from '../../../rules/names.js';
import { nowSeconds, type TokenClaims, type TokenKind } from '../../auth/tokens.js';
import {
  type Deployment,
  type Exchange,
  inviteRefusal,
  type Store,
  StoreError,
  type TokenFilter,
  type TokenListing,
  type TokenOptions,
  type TokenRecord,
} from '../store.js';
import { LockKey, type Pool, query, type Queryable, transaction } from './pool.js';



export class PgStore implements Store {
  constructor(private readonly pool: Pool) {}

  async createDeployment(app: string, labels: Record<string, string>): Promise<Deployment> {
    if (!APP_NAME.test(app)) {
      throw new StoreError(`invalid app name ${JSON.stringify(app)}: use letters, digits, '.', '_' or '-' (at most 63)`);
    }
    const deployment: Deployment = { id: ulid(), app, labels, createdAt: Date.now() };
    await transaction(this.pool, async (db) => {
      await query(db, 'INSERT INTO apps (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [app, deployment.createdAt]);
      await query(db, 'INSERT INTO deployments (id, app, labels, created_at) VALUES ($1, $2, $3, $4)', [
        deployment.id,
        app,
        JSON.stringify(labels),
        deployment.createdAt,
      ]);
    });
    return deployment;
  }

  async deployment(id: string): Promise<Deployment | undefined> {
    const { rows } = await query<DeploymentRow>(this.pool, 'SELECT * FROM deployments WHERE id = $1', [id]);
    return rows[0] && toDeployment(rows[0]);
  }

  async deployments(app?: string): Promise<Deployment[]> {
    const { rows } = app
      ? await query<DeploymentRow>(this.pool, 'SELECT * FROM deployments WHERE app = $1 ORDER BY id', [app])
      : await query<DeploymentRow>(this.pool, 'SELECT * FROM deployments ORDER BY id');
    return rows.map(toDeployment);
  }

  async issueToken(kind: TokenKind, opts: TokenOptions = {}): Promise<TokenClaims> {
    // One from an invite is two statements (the row, the invite's count): one transaction.
    if (opts.parentId) return transaction(this.pool, (db) => insertToken(db, kind, opts));
    return insertToken(this.pool, kind, opts);
  }

  async tokens(filter: TokenFilter = {}): Promise<TokenListing[]> {
    const { rows } = await query<TokenRow>(
      this.pool,
      `SELECT t.*, d.app AS app FROM tokens t LEFT JOIN deployments d ON d.id = t.deployment_id
       WHERE ($1 = '' OR d.app = $1) AND ($2 = '' OR t.deployment_id = $2) ORDER BY t.id`,
      [filter.app ?? '', filter.deploymentId ?? ''],
    );
    return rows.map((r) => ({ ...toToken(r), ...(r.app && { app: r.app }) }));
  }

  async exchanges(inviteId: string): Promise<number> {
    const { rows } = await query<{ exchanges: number }>(this.pool, 'SELECT exchanges FROM tokens WHERE id = $1', [inviteId]);
    return rows[0]?.exchanges ?? 0;
  }

  async revokeToken(id: string): Promise<string[]> {
    const now = nowSeconds();
    return transaction(this.pool, async (db) => {
      // The token's row first: an exchange of this invite waits for the revocation, or it went before.
      await query(db, 'SELECT id FROM tokens WHERE id = $1 FOR UPDATE', [id]);
      const own = await query(db, 'UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL', [now, id]);
      const children = await query<{ id: string }>(
        db,
        'WITH r AS (UPDATE tokens SET revoked_at = $1 WHERE parent_id = $2 AND revoked_at IS NULL RETURNING id) SELECT id FROM r ORDER BY id',
        [now, id],
      );
      return [...(own.rowCount ? [id] : []), ...children.rows.map((c) => c.id)];
    });
  }

  async rotateOperator(): Promise<{ claims: TokenClaims; revoked: string[] }> {
    return transaction(
      this.pool,
      async (db) => {
        const claims = await insertToken(db, 'operator');
        const { rows } = await query<{ id: string }>(
          db,
          "WITH r AS (UPDATE tokens SET revoked_at = $1 WHERE kind = 'operator' AND id != $2 AND revoked_at IS NULL RETURNING id) SELECT id FROM r ORDER BY id",
          [nowSeconds(), claims.id],
        );
        return { claims, revoked: rows.map((r) => r.id) };
      },
      { lock: LockKey.operator },
    );
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    const { rows } = await query<TokenRow>(this.pool, 'SELECT * FROM tokens WHERE id = $1', [id]);
    return rows[0] && toToken(rows[0]);
  }

  async operatorClaims(): Promise<TokenClaims | undefined> {
    return currentOperator(this.pool);
  }

  async ensureOperator(): Promise<{ claims: TokenClaims; created: boolean }> {
    return transaction(
      this.pool,
      async (db) => {
        const claims = await currentOperator(db);
        return claims ? { claims, created: false } : { claims: await insertToken(db, 'operator'), created: true };
      },
      { lock: LockKey.operator },
    );
  }

  async exchangeInvite(inviteId: string, maxExchanges: number): Promise<Exchange> {
    return transaction(this.pool, async (db): Promise<Exchange> => {
      const { rows } = await query<TokenRow & { exchanges: number }>(db, 'SELECT * FROM tokens WHERE id = $1 FOR UPDATE', [inviteId]);
      const record = rows[0] && toToken(rows[0]);
      const refused = inviteRefusal(record, nowSeconds());
      if (refused) return { ok: false, reason: refused };
      if (rows[0].exchanges >= maxExchanges) return { ok: false, reason: 'exhausted' };
      return { ok: true, claims: await insertToken(db, 'entrypoint', { deploymentId: record!.deploymentId, parentId: inviteId }) };
    });
  }
}

async function insertToken(db: Queryable, kind: TokenKind, opts: TokenOptions = {}): Promise<TokenClaims> {
  const claims: TokenClaims = { kind, id: ulid(), iat: nowSeconds(), ...(opts.deploymentId && { deployment: opts.deploymentId }) };
  const expiresAt = opts.ttlSeconds === undefined ? null : claims.iat + opts.ttlSeconds;
  await query(db, 'INSERT INTO tokens (id, kind, deployment_id, parent_id, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)', [
    claims.id,
    kind,
    opts.deploymentId ?? null,
    opts.parentId ?? null,
    claims.iat,
    expiresAt,
  ]);
  // An entrypoint token made from an invite counts as one of its exchanges (its row holds the count).
  if (kind === 'entrypoint' && opts.parentId) await query(db, 'UPDATE tokens SET exchanges = exchanges + 1 WHERE id = $1', [opts.parentId]);
  return claims;
}

async function currentOperator(db: Queryable): Promise<TokenClaims | undefined> {
  const { rows } = await query<TokenRow>(db, "SELECT * FROM tokens WHERE kind = 'operator' AND revoked_at IS NULL ORDER BY id LIMIT 1");
  return rows[0] && { kind: 'operator', id: rows[0].id, iat: rows[0].issued_at };
}


