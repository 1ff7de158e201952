// The console's session records on the run's store: in memory beside SQLite (one server), in
// PostgreSQL for replicas. Same contract: found by key, removed by key, by token, at expiry, and
// bounded (those expiring first go).
import { afterEach, describe, expect, it } from 'vitest';
import { MemorySessionRecords, type Session, type SessionRecords } from '../../../../src/server/console/session-records.js';
import { PgSessionRecords } from '../../../../src/server/store/postgres/console-sessions.js';
import { closeTestStores, openTestStore } from '../../../helpers/store.js';

afterEach(closeTestStores);

async function records(): Promise<SessionRecords> {
  const store = await openTestStore();
  return store.database ? new PgSessionRecords(store.database.pool) : new MemorySessionRecords();
}

const session = (key: string, tokenId: string, expiresAt: number): Session => ({ key, tokenId, csrf: `csrf-${key}`, expiresAt });

describe('console session records', () => {
  it('are found by key until removed, by key or by token', async () => {
    const r = await records();
    await r.add(session('k1', 'tok-a', 5_000), 10);
    await r.add(session('k2', 'tok-a', 5_000), 10);
    await r.add(session('k3', 'tok-b', 5_000), 10);
    expect(await r.get('k1')).toEqual(session('k1', 'tok-a', 5_000));
    expect(await r.get('nope')).toBeUndefined();
    expect((await r.removeTokens(['tok-a', 'tok-x'])).sort()).toEqual(['k1', 'k2']);
    expect(await r.get('k1')).toBeUndefined();
    await r.remove(['k3', 'never-there']);
    expect(await r.get('k3')).toBeUndefined();
    expect(await r.removeTokens([])).toEqual([]);
  });

  it('go at their expiry, and past the most allowed those expiring first go', async () => {
    const r = await records();
    await r.add(session('soon', 't', 1_000), 3);
    await r.add(session('later', 't', 2_000), 3);
    await r.add(session('latest', 't', 3_000), 3);
    expect(await r.add(session('new', 't', 4_000), 3)).toEqual(['soon']);
    expect(await r.removeExpired(2_000)).toEqual(['later']);
    expect(await r.get('latest')).toBeDefined();
    expect(await r.get('new')).toBeDefined();
  });
});
