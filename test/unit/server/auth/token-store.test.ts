// Token records in a real store (SQLite; PostgreSQL with WAYPOINT_TEST_STORE=postgres), behind
// the Authenticator: invite expiry, the bound on exchanges of one invite (also under concurrent
// exchanges and a revocation), revocation with its entrypoint tokens, the operator's rotation
// (L8); and `--invite-ttl` as the ctl parses it.
import Database from 'better-sqlite3';
import path from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseInviteTtl } from '../../../../src/ctl/invite-ttl.js';
import { Authenticator, MAX_EXCHANGES_PER_INVITE } from '../../../../src/server/auth/authenticator.js';
import { RpcError, Status } from '../../../../src/server/rpc/status.js';
import { TokenSigner } from '../../../../src/server/auth/tokens.js';
import { type StoreLocation, closeTestStores, openTestStore, TEST_STORE } from '../../../helpers/store.js';

afterEach(async () => {
  vi.useRealTimers();
  await closeTestStores();
});

/** A store of the run's kind (a new one, or the one `at` reopened) with a deployment of app shop. */
async function setup(at?: StoreLocation) {
  const { store, at: where, close } = await openTestStore(at);
  const signer = new TokenSigner(Buffer.alloc(32, 7));
  const deployment = at ? (await store.deployments('shop'))[0] : await store.createDeployment('shop', {});
  return { at: where, close, store, signer, auth: new Authenticator(signer, store), deployment };
}

/**
 * `n` entrypoint tokens of an invite, written straight into the database of a closed store
 * (SQLite's is locked while open): fast, to reach the limit.
 */
async function seedExchanges(at: StoreLocation, inviteId: string, deploymentId: string, n: number): Promise<void> {
  if (at.databaseUrl) {
    const client = new pg.Client({ connectionString: at.databaseUrl });
    await client.connect();
    try {
      await client.query(
        "INSERT INTO tokens (id, kind, deployment_id, parent_id, issued_at) SELECT 'T' || g, 'entrypoint', $2, $3, 0 FROM generate_series(1, $1::int) g",
        [n, deploymentId, inviteId],
      );
      // PostgreSQL keeps each invite's count on its row: as the exchanges would have.
      await client.query('UPDATE tokens SET exchanges = exchanges + $1 WHERE id = $2', [n, inviteId]);
    } finally {
      await client.end();
    }
    return;
  }
  const db = new Database(path.join(at.dataDir, 'state.db'));
  try {
    const insert = db.prepare("INSERT INTO tokens (id, kind, deployment_id, parent_id, issued_at) VALUES (?, 'entrypoint', ?, ?, 0)");
    db.transaction(() => {
      for (let i = 1; i <= n; i++) insert.run(`T${i}`, deploymentId, inviteId);
    })();
  } finally {
    db.close();
  }
}

async function refusal(promise: Promise<unknown>): Promise<RpcError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof RpcError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe(`invites (${TEST_STORE})`, () => {
  it('L8: an invite is refused from the second its life ends; one without a life never expires', async () => {
    vi.useFakeTimers({ now: Date.UTC(2026, 0, 1), toFake: ['Date'] });
    const { store, signer, auth, deployment } = await setup();
    const invite = signer.sign(await store.issueToken('invite', { deploymentId: deployment.id, ttlSeconds: 3600 }));
    const forever = signer.sign(await store.issueToken('invite', { deploymentId: deployment.id }));
    vi.setSystemTime(Date.UTC(2026, 0, 1, 0, 59, 59));
    expect((await auth.exchange(invite)).claims.kind).toBe('entrypoint');
    vi.setSystemTime(Date.UTC(2026, 0, 1, 1, 0, 0));
    const err = await refusal(auth.exchange(invite));
    expect(err.code).toBe(Status.UNAUTHENTICATED);
    expect(err.message).toMatch(/this invite token expired at 2026-01-01T01:00:00.000Z/);
    vi.setSystemTime(Date.UTC(2036, 0, 1));
    expect((await auth.exchange(forever)).invite.kind).toBe('invite');
  });

  it(`L8: one invite is exchanged at most ${MAX_EXCHANGES_PER_INVITE} times (RESOURCE_EXHAUSTED, what to do); another invite still works`, async () => {
    const first = await setup();
    const claims = await first.store.issueToken('invite', { deploymentId: first.deployment.id });
    await first.close();
    await seedExchanges(first.at, claims.id, first.deployment.id, MAX_EXCHANGES_PER_INVITE - 1);
    const { store, signer, auth, deployment } = await setup(first.at);
    const invite = signer.sign(claims);
    await auth.exchange(invite); // the last one allowed
    const err = await refusal(auth.exchange(invite));
    expect(err.code).toBe(Status.RESOURCE_EXHAUSTED);
    expect(err.message).toMatch(new RegExp(`exchanged ${MAX_EXCHANGES_PER_INVITE} times, its limit: make a new one with \`waypoint-ctl deployment invite ${deployment.id}\``));
    expect(await store.exchanges(claims.id)).toBe(MAX_EXCHANGES_PER_INVITE);
    expect((await auth.exchange(signer.sign(await store.issueToken('invite', { deploymentId: deployment.id })))).invite.kind).toBe('invite');
  });

  it('exchanges of one invite made at the same time never pass its limit, nor follow its revocation', async () => {
    const { store, deployment } = await setup();
    const invite = await store.issueToken('invite', { deploymentId: deployment.id });
    const results = await Promise.all(Array.from({ length: 8 }, () => store.exchangeInvite(invite.id, 5)));
    expect(results.filter((r) => r.ok)).toHaveLength(5);
    expect(results.filter((r) => !r.ok).map((r) => !r.ok && r.reason)).toEqual(['exhausted', 'exhausted', 'exhausted']);
    // Either order is right: the exchange first (its token revoked with the rest), or the revocation (the exchange refused).
    const [revoked, late] = await Promise.all([store.revokeToken(invite.id), store.exchangeInvite(invite.id, 100)]);
    if (late.ok) expect(revoked).toEqual([invite.id, ...[...results.flatMap((r) => (r.ok ? [r.claims.id] : [])), late.claims.id].sort()]);
    else expect(late).toEqual({ ok: false, reason: 'revoked' });
    const children = (await store.tokens()).filter((t) => t.parentId === invite.id);
    expect(children).toHaveLength(late.ok ? 6 : 5);
    expect(children.every((t) => t.revokedAt !== undefined)).toBe(true);
  });

  it('counts every exchange of an invite, and an entrypoint token issued from it, the same before and after a restart', async () => {
    const first = await setup();
    const invite = await first.store.issueToken('invite', { deploymentId: first.deployment.id });
    expect(await first.store.exchanges(invite.id)).toBe(0);
    for (const _ of [1, 2, 3]) expect((await first.store.exchangeInvite(invite.id, 5)).ok).toBe(true);
    await first.store.issueToken('entrypoint', { deploymentId: first.deployment.id, parentId: invite.id });
    expect(await first.store.exchanges(invite.id)).toBe(4);
    expect((await first.store.exchangeInvite(invite.id, 5)).ok).toBe(true);
    expect(await first.store.exchangeInvite(invite.id, 5)).toEqual({ ok: false, reason: 'exhausted' });
    await first.close();
    const { store } = await setup(first.at);
    expect(await store.exchanges(invite.id)).toBe(5);
    expect(await store.exchangeInvite(invite.id, 5)).toEqual({ ok: false, reason: 'exhausted' });
    expect((await store.exchangeInvite(invite.id, 6)).ok).toBe(true);
  });
});

describe(`revocation and rotation (${TEST_STORE})`, () => {
  it('L8: revoking an invite revokes the entrypoint tokens exchanged from it, once; rotation leaves one operator token', async () => {
    const { store, deployment } = await setup();
    const invite = await store.issueToken('invite', { deploymentId: deployment.id });
    const children: string[] = [];
    for (const _ of [1, 2]) children.push((await store.issueToken('entrypoint', { deploymentId: deployment.id, parentId: invite.id })).id);
    expect(await store.revokeToken(invite.id)).toEqual([invite.id, ...children]);
    expect(await store.revokeToken(invite.id)).toEqual([]);
    const first = await store.ensureOperator();
    expect(first.created).toBe(true);
    expect(await store.ensureOperator()).toEqual({ claims: first.claims, created: false });
    const { claims, revoked } = await store.rotateOperator();
    expect(revoked).toEqual([first.claims.id]);
    expect((await store.operatorClaims())?.id).toBe(claims.id);
  });
});

describe('parseInviteTtl', () => {
  it('takes durations and "never"; refuses 0, sub-second, over 10 years and words', () => {
    expect(parseInviteTtl('--invite-ttl', '24h')).toBe(86_400);
    expect(parseInviteTtl('--invite-ttl', '90m')).toBe(5_400);
    expect(parseInviteTtl('--invite-ttl', 'Never')).toBeNull();
    for (const bad of ['0', '500ms', '87601h', 'soon', '']) expect(() => parseInviteTtl('--invite-ttl', bad), bad).toThrow(/--invite-ttl/);
  });
});
