// The replicas' tables on PostgreSQL (migration 3): heartbeats on the database's clock, alive
// within the timeout; instance rows written and removed only by their own replica, taken over
// when an instance moves; forgotten replicas take their rows with them; the exec sessions of a
// replica are failed only once it is gone. PostgreSQL run only.
import { afterEach, describe, expect, it } from 'vitest';
import type { InstanceInfo } from '../../../../src/server/instances/registry.js';
import {
  forgetSilent,
  heartbeat,
  listReplicas,
  otherInstances,
  removeReplica,
  replaceInstances,
  revokedAmong,
  upsertReplica,
  writeInstances,
} from '../../../../src/server/store/postgres/replica-rows.js';
import { PgExecHistory } from '../../../../src/server/store/postgres/exec-history.js';
import type { Pool } from '../../../../src/server/store/postgres/pool.js';
import { closeTestStores, openTestStore, TEST_STORE } from '../../../helpers/store.js';

afterEach(closeTestStores);

async function pool(): Promise<Pool> {
  return (await openTestStore()).database!.pool;
}

const info = (id: string, app = 'web'): InstanceInfo => ({
  id,
  deploymentId: 'D1',
  app,
  type: 'LONG_RUNNING',
  execDisabled: false,
  connectedSince: 1000,
  remoteAddress: '127.0.0.1:1',
  tokenId: 'T1',
});
const row = (i: InstanceInfo) => ({ id: i.id, app: i.app, deploymentId: i.deploymentId, info: JSON.stringify(i) });

/** Sets a replica's heartbeat `ago` ms in the past, on the database's clock. */
async function age(db: Pool, id: string, ago: number): Promise<void> {
  await db.query(`UPDATE replicas SET heartbeat_at = (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT - $2 WHERE id = $1`, [id, ago]);
}

describe.skipIf(TEST_STORE !== 'postgres')('the replicas tables', () => {
  it('list replicas alive within the timeout, alive first, with their instance counts; a heartbeat of a forgotten one says so', async () => {
    const db = await pool();
    await upsertReplica(db, { id: 'A', grpcAddress: '10.0.0.1:9701', httpAddress: '10.0.0.1:9702', version: 'v1' });
    await upsertReplica(db, { id: 'B', grpcAddress: '10.0.0.2:9701', version: 'v1' });
    await writeInstances(db, 'B', [row(info('I1')), row(info('I2'))], []);
    await age(db, 'A', 60_000);
    const listed = await listReplicas(db, 10_000);
    expect(listed.map((r) => [r.id, r.alive, Number(r.instances), r.http_address])).toEqual([
      ['B', true, 2, null],
      ['A', false, 0, '10.0.0.1:9702'],
    ]);
    expect(await heartbeat(db, 'A')).toBe(true);
    expect((await listReplicas(db, 10_000)).every((r) => r.alive)).toBe(true);
    await removeReplica(db, 'A');
    expect(await heartbeat(db, 'A')).toBe(false);
  });

  it('instance rows: a replica removes only its own; an instance that moved is the new replica\'s; a rewrite replaces all of one replica\'s', async () => {
    const db = await pool();
    await upsertReplica(db, { id: 'A', grpcAddress: 'a:1', version: 'v' });
    await upsertReplica(db, { id: 'B', grpcAddress: 'b:1', version: 'v' });
    await writeInstances(db, 'A', [row(info('I1')), row(info('I2', 'api'))], []);
    await writeInstances(db, 'B', [row(info('I1'))], []); // I1 moved to B
    await writeInstances(db, 'A', [], ['I1']); // A notices its old stream gone: B's row stays
    const fromC = await otherInstances(db, 'C', 10_000, {});
    expect(fromC.map((r) => [JSON.parse(r.info).id, r.replica_id, r.alive])).toEqual([
      ['I1', 'B', true],
      ['I2', 'A', true],
    ]);
    expect((await otherInstances(db, 'C', 10_000, { app: 'api' })).map((r) => r.replica_id)).toEqual(['A']);
    expect((await otherInstances(db, 'C', 10_000, { id: 'I1' })).map((r) => r.replica_id)).toEqual(['B']);
    expect(await otherInstances(db, 'B', 10_000, { id: 'I1' })).toEqual([]); // its own are not "other"
    await replaceInstances(db, 'A', [row(info('I3'))]);
    expect((await otherInstances(db, 'C', 10_000, {})).map((r) => JSON.parse(r.info).id)).toEqual(['I1', 'I3']);
  });

  it('forget replicas silent for long, with their instance rows; the rows of one removed are shown with no replica', async () => {
    const db = await pool();
    await upsertReplica(db, { id: 'OLD', grpcAddress: 'o:1', version: 'v' });
    await upsertReplica(db, { id: 'NEW', grpcAddress: 'n:1', version: 'v' });
    await writeInstances(db, 'OLD', [row(info('I1'))], []);
    await writeInstances(db, 'NEW', [row(info('I2'))], []);
    await age(db, 'OLD', 20_000);
    expect((await otherInstances(db, 'X', 10_000, { id: 'I1' }))[0].alive).toBe(false);
    expect(await forgetSilent(db, 60_000)).toBe(0);
    expect(await forgetSilent(db, 15_000)).toBe(1);
    expect((await listReplicas(db, 10_000)).map((r) => r.id)).toEqual(['NEW']);
    expect((await otherInstances(db, 'X', 10_000, {})).map((r) => JSON.parse(r.info).id)).toEqual(['I2']);
  });

  it('fail the RUNNING exec sessions of replicas that are gone, never a live one\'s or our own', async () => {
    const db = await pool();
    await upsertReplica(db, { id: 'LIVE', grpcAddress: 'l:1', version: 'v' });
    await upsertReplica(db, { id: 'DEAD', grpcAddress: 'd:1', version: 'v' });
    await age(db, 'DEAD', 60_000);
    const session = { app: 'web', deploymentId: 'D1', instanceId: 'I1', args: ['sh'], tty: false, operatorTokenId: 'OP', operatorAddress: 'x:1' };
    const ids: Record<string, number> = {};
    for (const id of ['LIVE', 'DEAD', 'ME', 'UNKNOWN']) ids[id] = (await new PgExecHistory(db, { id, timeoutMs: 10_000 }).begin(session)).id;
    const me = new PgExecHistory(db, { id: 'ME', timeoutMs: 10_000 });
    expect(await me.failRunning('its replica stopped answering')).toBe(2);
    expect(await me.get(ids.LIVE)).toMatchObject({ state: 'RUNNING' });
    expect(await me.get(ids.ME)).toMatchObject({ state: 'RUNNING' });
    expect(await me.get(ids.DEAD)).toMatchObject({ state: 'FAILED', error: 'its replica stopped answering' });
    expect(await me.get(ids.UNKNOWN)).toMatchObject({ state: 'FAILED' });
  });

  it('say which of some token ids are revoked', async () => {
    const store = await openTestStore();
    const db = store.database!.pool;
    const a = await store.store.issueToken('operator');
    const b = await store.store.issueToken('operator');
    await db.query('UPDATE tokens SET revoked_at = 1 WHERE id = $1', [b.id]);
    expect(await revokedAmong(db, [a.id, b.id, 'nope'])).toEqual([b.id]);
    expect(await revokedAmong(db, [])).toEqual([]);
  });
});
