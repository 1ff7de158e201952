// The server's persistent state: apps, deployments and token records, in SQLite. Every query
// is a prepared statement made once; callers get plain typed objects. better-sqlite3 is
// synchronous: each method does all of its work before it returns its promise, so a method is
// atomic against every other call of this process.
import type { Statement } from 'better-sqlite3';
import { ulid } from '../../../ids.js';
import { type DeploymentRow, toDeployment, toToken, type TokenRow } from '../rows.js';
import { APP_NAME } from '../../../rules/names.js';
import type { Db } from './db.js';
import { type Deployment, type Exchange, inviteRefusal, type Store, StoreError, type TokenFilter, type TokenListing, type TokenOptions, type TokenRecord } from '../store.js';
import { nowSeconds, type TokenClaims, type TokenKind } from '../../auth/tokens.js';



export class SqliteStore implements Store {
  private readonly q: Record<string, Statement>;
  /**
   * Exchanges per invite, counted once and then kept (this process alone writes the data dir,
   * and only a new entrypoint token adds to them): a fleet's registrations would otherwise count
   * every earlier one of their invite, twice each, 10 000 instances making 10^8 row visits.
   */
  private readonly exchangeCounts = new Map<string, number>();

  constructor(private readonly db: Db) {
    this.q = {
      insertApp: db.prepare('INSERT OR IGNORE INTO apps (name, created_at) VALUES (?, ?)'),
      insertDeployment: db.prepare('INSERT INTO deployments (id, app, labels, created_at) VALUES (?, ?, ?, ?)'),
      deployment: db.prepare('SELECT * FROM deployments WHERE id = ?'),
      deployments: db.prepare('SELECT * FROM deployments ORDER BY id'),
      deploymentsOfApp: db.prepare('SELECT * FROM deployments WHERE app = ? ORDER BY id'),
      insertToken: db.prepare(
        'INSERT INTO tokens (id, kind, deployment_id, parent_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      token: db.prepare('SELECT * FROM tokens WHERE id = ?'),
      tokens: db.prepare(
        `SELECT t.*, d.app AS app FROM tokens t LEFT JOIN deployments d ON d.id = t.deployment_id
         WHERE (@app = '' OR d.app = @app) AND (@deployment = '' OR t.deployment_id = @deployment) ORDER BY t.id`,
      ),
      exchanges: db.prepare("SELECT COUNT(*) AS n FROM tokens WHERE parent_id = ? AND kind = 'entrypoint'"),
      revoke: db.prepare('UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL'),
      revokeChildren: db.prepare('UPDATE tokens SET revoked_at = ? WHERE parent_id = ? AND revoked_at IS NULL RETURNING id'),
      revokeOperators: db.prepare("UPDATE tokens SET revoked_at = ? WHERE kind = 'operator' AND id != ? AND revoked_at IS NULL RETURNING id"),
      operatorToken: db.prepare("SELECT * FROM tokens WHERE kind = 'operator' AND revoked_at IS NULL ORDER BY id LIMIT 1"),
    };
  }

  /** Creates the app when it is new, then a deployment of it. */
  async createDeployment(app: string, labels: Record<string, string>): Promise<Deployment> {
    if (!APP_NAME.test(app)) {
      throw new StoreError(`invalid app name ${JSON.stringify(app)}: use letters, digits, '.', '_' or '-' (at most 63)`);
    }
    const deployment: Deployment = { id: ulid(), app, labels, createdAt: Date.now() };
    this.db.transaction(() => {
      this.q.insertApp.run(app, deployment.createdAt);
      this.q.insertDeployment.run(deployment.id, app, JSON.stringify(labels), deployment.createdAt);
    })();
    return deployment;
  }

  async deployment(id: string): Promise<Deployment | undefined> {
    const row = this.q.deployment.get(id) as DeploymentRow | undefined;
    return row && toDeployment(row);
  }

  /** Oldest first; every app when `app` is empty. */
  async deployments(app?: string): Promise<Deployment[]> {
    const rows = (app ? this.q.deploymentsOfApp.all(app) : this.q.deployments.all()) as DeploymentRow[];
    return rows.map(toDeployment);
  }

  /** Records a new token and returns the claims to sign. `ttlSeconds`: an invite's life (undefined: forever). */
  async issueToken(kind: TokenKind, opts: TokenOptions = {}): Promise<TokenClaims> {
    return this.insertToken(kind, opts);
  }

  private insertToken(kind: TokenKind, opts: TokenOptions = {}): TokenClaims {
    const claims: TokenClaims = { kind, id: ulid(), iat: nowSeconds(), ...(opts.deploymentId && { deployment: opts.deploymentId }) };
    const expiresAt = opts.ttlSeconds === undefined ? null : claims.iat + opts.ttlSeconds;
    this.q.insertToken.run(claims.id, kind, opts.deploymentId ?? null, opts.parentId ?? null, claims.iat, expiresAt);
    const counted = kind === 'entrypoint' && opts.parentId !== undefined ? this.exchangeCounts.get(opts.parentId) : undefined;
    if (counted !== undefined) this.exchangeCounts.set(opts.parentId!, counted + 1);
    return claims;
  }

  async tokens(filter: TokenFilter = {}): Promise<TokenListing[]> {
    const rows = this.q.tokens.all({ app: filter.app ?? '', deployment: filter.deploymentId ?? '' }) as TokenRow[];
    return rows.map((r) => ({ ...toToken(r), ...(r.app && { app: r.app }) }));
  }

  /** How many entrypoint tokens an invite was exchanged for. */
  async exchanges(inviteId: string): Promise<number> {
    return this.countExchanges(inviteId);
  }

  private countExchanges(inviteId: string): number {
    let n = this.exchangeCounts.get(inviteId);
    if (n === undefined) {
      n = (this.q.exchanges.get(inviteId) as { n: number }).n;
      this.exchangeCounts.set(inviteId, n);
    }
    return n;
  }

  /** Revokes a token and the tokens exchanged from it; returns the ids revoked now (the token's first). */
  async revokeToken(id: string): Promise<string[]> {
    const now = nowSeconds();
    return this.db.transaction(() => {
      const revoked = this.q.revoke.run(now, id).changes > 0 ? [id] : [];
      const children = this.q.revokeChildren.all(now, id) as Array<{ id: string }>;
      return [...revoked, ...children.map((c) => c.id).sort()];
    })();
  }

  /** A new operator token, every other one revoked, in one transaction. */
  async rotateOperator(): Promise<{ claims: TokenClaims; revoked: string[] }> {
    return this.db.transaction(() => {
      const claims = this.insertToken('operator');
      const revoked = (this.q.revokeOperators.all(nowSeconds(), claims.id) as Array<{ id: string }>).map((r) => r.id);
      return { claims, revoked };
    })();
  }

  async token(id: string): Promise<TokenRecord | undefined> {
    const row = this.q.token.get(id) as TokenRow | undefined;
    return row && toToken(row);
  }

  /** The claims of the current operator token, to re-sign it (signing is deterministic). */
  async operatorClaims(): Promise<TokenClaims | undefined> {
    return this.currentOperator();
  }

  async ensureOperator(): Promise<{ claims: TokenClaims; created: boolean }> {
    return this.db.transaction(() => {
      const claims = this.currentOperator();
      return claims ? { claims, created: false } : { claims: this.insertToken('operator'), created: true };
    })();
  }

  /** Checks the invite and counts its exchanges in the transaction that records the new token. */
  async exchangeInvite(inviteId: string, maxExchanges: number): Promise<Exchange> {
    const exchange = this.db.transaction((): Exchange => {
      const row = this.q.token.get(inviteId) as TokenRow | undefined;
      const refused = inviteRefusal(row && toToken(row), nowSeconds());
      if (refused) return { ok: false, reason: refused };
      if (this.countExchanges(inviteId) >= maxExchanges) return { ok: false, reason: 'exhausted' };
      return { ok: true, claims: this.insertToken('entrypoint', { deploymentId: row!.deployment_id!, parentId: inviteId }) };
    });
    try {
      return exchange();
    } catch (err) {
      this.exchangeCounts.delete(inviteId); // rolled back: counted again from the rows next time
      throw err;
    }
  }

  private currentOperator(): TokenClaims | undefined {
    const row = this.q.operatorToken.get() as TokenRow | undefined;
    return row && { kind: 'operator', id: row.id, iat: row.issued_at };
  }
}


