// The exec history (SQLite; PostgreSQL with WAYPOINT_TEST_STORE=postgres): ids that are never
// reused (they are exec indexes), one end per session, filters and limits newest first, and
// sessions left RUNNING by a crash.
import { afterEach, describe, expect, it } from 'vitest';
import type { ExecHistory, NewExecSession } from '../../../../src/server/store/store.js';
import { closeTestStores, openTestStore, TEST_STORE } from '../../../helpers/store.js';

afterEach(closeTestStores);

async function open(): Promise<ExecHistory> {
  return (await openTestStore()).execHistory;
}

function session(opts: Partial<NewExecSession> = {}): NewExecSession {
  return {
    app: 'web',
    deploymentId: 'D1',
    instanceId: 'I1',
    args: ['sh', '-c', 'echo "hi there"'],
    tty: false,
    operatorTokenId: 'OP',
    operatorAddress: '127.0.0.1:5000',
    ...opts,
  };
}

describe('ExecHistory', async () => {
  it('records a session as RUNNING, then its exit once', async () => {
    const h = await open();
    const r = await h.begin(session({ tty: true }), 1000);
    expect(await h.get(r.id)).toEqual({ ...session({ tty: true }), id: r.id, startedAt: 1000, state: 'RUNNING', error: '' });
    await h.exited(r.id, 7, 1500);
    await h.failed(r.id, 'operator went away', undefined, 2000); // too late: it had ended
    expect(await h.get(r.id)).toMatchObject({ state: 'EXITED', exitCode: 7, endedAt: 1500, error: '' });
  });

  it('records a failure with its message and, when there is one, the exit status the operator got', async () => {
    const h = await open();
    const a = await h.begin(session());
    const b = await h.begin(session());
    await h.failed(a.id, 'nosuch: command not found', 127);
    await h.failed(b.id, 'operator went away');
    expect(await h.get(a.id)).toMatchObject({ state: 'FAILED', exitCode: 127, error: 'nosuch: command not found' });
    expect(await h.get(b.id)).toMatchObject({ state: 'FAILED', error: 'operator went away' });
    expect((await h.get(b.id))?.exitCode).toBeUndefined();
  });

  it('lists newest first, filtered by app and instance, limited', async () => {
    const h = await open();
    const ids = [
      (await h.begin(session({ app: 'web', instanceId: 'I1' }))).id,
      (await h.begin(session({ app: 'api', instanceId: 'I2' }))).id,
      (await h.begin(session({ app: 'web', instanceId: 'I3' }))).id,
    ];
    expect((await h.list({ limit: 100 })).map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect((await h.list({ app: 'web', limit: 100 })).map((r) => r.id)).toEqual([ids[2], ids[0]]);
    expect((await h.list({ instanceId: 'I2', limit: 100 })).map((r) => r.id)).toEqual([ids[1]]);
    expect(await h.list({ app: 'api', instanceId: 'I1', limit: 100 })).toEqual([]);
    expect((await h.list({ limit: 1 })).map((r) => r.id)).toEqual([ids[2]]);
    expect((await h.list({ limit: 100 }))[0].args).toEqual(['sh', '-c', 'echo "hi there"']);
  });

  it('never hands out an id again, across restarts, and fails what a crash left running', async () => {
    const store = await openTestStore();
    let h = store.execHistory;
    const first = await h.begin(session());
    const second = await h.begin(session());
    await h.exited(second.id, 0);
    await store.close();

    h = (await openTestStore(store.at)).execHistory;
    expect(await h.failRunning('server restarted', 5000)).toBe(1);
    expect(await h.get(first.id)).toMatchObject({ state: 'FAILED', error: 'server restarted', endedAt: 5000 });
    expect(await h.get(second.id)).toMatchObject({ state: 'EXITED', exitCode: 0 });
    expect((await h.begin(session())).id).toBeGreaterThan(second.id);
  });
});
