// PostgreSQL keeps each invite's exchange count on its row (migration 5): filled from the
// entrypoint tokens already made when the migration (or `server migrate`) runs, then kept by
// every exchange. PostgreSQL run only (SQLite counts the tokens, in process).
import { afterEach, describe, expect, it } from 'vitest';
import { EXCHANGES_BACKFILL } from '../../../../src/server/store/postgres/migrations.js';
import { closeTestStores, openTestStore, TEST_STORE } from '../../../helpers/store.js';

afterEach(closeTestStores);

describe.skipIf(TEST_STORE !== 'postgres')('invite exchange counts', () => {
  it('are filled from the entrypoint tokens made from each invite, then kept by each exchange', async () => {
    const { store, database } = await openTestStore();
    const deployment = await store.createDeployment('web', {});
    const a = await store.issueToken('invite', { deploymentId: deployment.id });
    const b = await store.issueToken('invite', { deploymentId: deployment.id });
    // Rows as a SQLite data dir copied by `server migrate` has them: tokens, no counts.
    await database!.pool.query(
      "INSERT INTO tokens (id, kind, deployment_id, parent_id, issued_at) SELECT 'A' || g, 'entrypoint', $1, $2, 0 FROM generate_series(1, 3) g",
      [deployment.id, a.id],
    );
    await database!.pool.query("INSERT INTO tokens (id, kind, deployment_id, parent_id, issued_at) VALUES ('B1', 'entrypoint', $1, $2, 0)", [deployment.id, b.id]);
    await database!.pool.query('UPDATE tokens SET exchanges = 0');
    await database!.pool.query(EXCHANGES_BACKFILL);
    expect([await store.exchanges(a.id), await store.exchanges(b.id)]).toEqual([3, 1]);
    expect((await store.exchangeInvite(a.id, 4)).ok).toBe(true);
    expect(await store.exchangeInvite(a.id, 4)).toEqual({ ok: false, reason: 'exhausted' });
    expect(await store.exchanges(a.id)).toBe(4);
    expect(await store.exchanges('no-such-invite')).toBe(0);
  });
});
