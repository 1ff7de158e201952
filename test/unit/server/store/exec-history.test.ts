// The exec history in SQLite: ids that are never reused (they are exec indexes), one end per
// session, filters and limits newest first, and sessions left RUNNING by a crash.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Db, openDb } from '../../../../src/server/store/sqlite/db.js';
import { SqliteExecHistory } from '../../../../src/server/store/sqlite/exec-history.js';
import type { ExecHistory, NewExecSession } from '../../../../src/server/store/store.js';

const dirs: string[] = [];
const dbs: Db[] = [];

afterEach(() => {
  for (const db of dbs.splice(0)) if (db.open) db.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function file(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-exec-history-'));
  dirs.push(dir);
  return path.join(dir, 'state.db');
}

function open(f: string): ExecHistory {
  const db = openDb(f);
  dbs.push(db);
  return new SqliteExecHistory(db);
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

describe('ExecHistory', () => {
  it('records a session as RUNNING, then its exit once', () => {
    const h = open(file());
    const r = h.begin(session({ tty: true }), 1000);
    expect(h.get(r.id)).toEqual({ ...session({ tty: true }), id: r.id, startedAt: 1000, state: 'RUNNING', error: '' });
    h.exited(r.id, 7, 1500);
    h.failed(r.id, 'operator went away', undefined, 2000); // too late: it had ended
    expect(h.get(r.id)).toMatchObject({ state: 'EXITED', exitCode: 7, endedAt: 1500, error: '' });
  });

  it('records a failure with its message and, when there is one, the exit status the operator got', () => {
    const h = open(file());
    const a = h.begin(session());
    const b = h.begin(session());
    h.failed(a.id, 'nosuch: command not found', 127);
    h.failed(b.id, 'operator went away');
    expect(h.get(a.id)).toMatchObject({ state: 'FAILED', exitCode: 127, error: 'nosuch: command not found' });
    expect(h.get(b.id)).toMatchObject({ state: 'FAILED', error: 'operator went away' });
    expect(h.get(b.id)?.exitCode).toBeUndefined();
  });

  it('lists newest first, filtered by app and instance, limited', () => {
    const h = open(file());
    const ids = [
      h.begin(session({ app: 'web', instanceId: 'I1' })).id,
      h.begin(session({ app: 'api', instanceId: 'I2' })).id,
      h.begin(session({ app: 'web', instanceId: 'I3' })).id,
    ];
    expect(h.list({ limit: 100 }).map((r) => r.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(h.list({ app: 'web', limit: 100 }).map((r) => r.id)).toEqual([ids[2], ids[0]]);
    expect(h.list({ instanceId: 'I2', limit: 100 }).map((r) => r.id)).toEqual([ids[1]]);
    expect(h.list({ app: 'api', instanceId: 'I1', limit: 100 })).toEqual([]);
    expect(h.list({ limit: 1 }).map((r) => r.id)).toEqual([ids[2]]);
    expect(h.list({ limit: 100 })[0].args).toEqual(['sh', '-c', 'echo "hi there"']);
  });

  it('never hands out an id again, across restarts, and fails what a crash left running', () => {
    const f = file();
    let h = open(f);
    const first = h.begin(session());
    const second = h.begin(session());
    h.exited(second.id, 0);
    dbs.pop()!.close();

    h = open(f);
    expect(h.failRunning('server restarted', 5000)).toBe(1);
    expect(h.get(first.id)).toMatchObject({ state: 'FAILED', error: 'server restarted', endedAt: 5000 });
    expect(h.get(second.id)).toMatchObject({ state: 'EXITED', exitCode: 0 });
    expect(h.begin(session()).id).toBeGreaterThan(second.id);
  });
});
