// The replicas' change feed (server/replicas/changes.ts) on a real PostgreSQL: a change one
// replica publishes reaches the others and not itself; garbage on the channel is ignored with a
// warning; and when the listen connection is cut, what was published meanwhile is lost to the
// listener, which therefore resyncs once it listens again. The cut is made by a TCP relay
// between the listener and PostgreSQL that the test opens and closes. Own throwaway cluster.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeFeed, type ReplicaChange } from '../../../src/server/replicas/changes.js';
import type { ServerLog } from '../../../src/server/log.js';
import { createPool, type Pool } from '../../../src/server/store/postgres/pool.js';
import { type PgCluster, startPostgres } from '../../helpers/postgres.js';
import { waitFor } from '../../helpers/run.js';

let cluster: PgCluster;
let url: string;
let pool: Pool;
beforeAll(async () => {
  cluster = await startPostgres();
  url = await cluster.createDatabase();
  pool = createPool(url, () => undefined);
}, 120_000);
afterAll(async () => {
  await pool?.end();
  await cluster?.stop();
});

/** A TCP relay to PostgreSQL that can cut every connection and refuse new ones until healed. */
async function relay(port: number) {
  const sockets = new Set<net.Socket>();
  let refusing = false;
  const server = net.createServer((client) => {
    if (refusing) return void client.destroy();
    const upstream = net.connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      refusing = true;
      for (const s of sockets) s.destroy();
    },
    heal() {
      refusing = false;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function recordingLog() {
  const warnings: string[] = [];
  const log: ServerLog = {
    debug: () => undefined,
    info: () => undefined,
    warn: (msg) => void warnings.push(msg),
    error: (msg) => void warnings.push(msg),
  } as ServerLog;
  return { log, warnings };
}

describe('the replicas change feed', () => {
  it('delivers what another replica publishes, never its own, and ignores garbage with a warning', async () => {
    const heard: ReplicaChange[] = [];
    const { log, warnings } = recordingLog();
    const b = new ChangeFeed(url, pool, 'B', { change: (c) => heard.push(c), resync: () => undefined }, log);
    const a = new ChangeFeed(url, pool, 'A', { change: () => undefined, resync: () => undefined }, log);
    await b.start();
    try {
      await a.publish({ kind: 'config', app: 'web' });
      await a.publish({ kind: 'config', app: null });
      await b.publish({ kind: 'config', app: 'own' });
      const ids = Array.from({ length: 450 }, (_, i) => `01TOKEN${String(i).padStart(19, '0')}`);
      await a.publish({ kind: 'revoked', ids });
      await pool.query("SELECT pg_notify('waypoint_changes', 'not json')");
      await pool.query(`SELECT pg_notify('waypoint_changes', '{"from":"A","kind":"reboot"}')`);
      await waitFor(() => heard.filter((c) => c.kind === 'revoked').flatMap((c) => (c.kind === 'revoked' ? c.ids : [])).length === 450 && warnings.length >= 2, {
        what: () => `every change and two warnings: ${JSON.stringify({ heard: heard.length, warnings })}`,
      });
      expect(heard.slice(0, 2)).toEqual([
        { kind: 'config', app: 'web' },
        { kind: 'config', app: null },
      ]);
      // 450 ids in three notifications (each payload well under PostgreSQL's 8000 bytes), in order.
      expect(heard.filter((c) => c.kind === 'revoked')).toHaveLength(3);
      expect(heard.flatMap((c) => (c.kind === 'revoked' ? c.ids : []))).toEqual(ids);
      expect(heard.some((c) => c.kind === 'config' && c.app === 'own')).toBe(false);
      expect(warnings).toEqual([expect.stringMatching(/unreadable notification/), expect.stringMatching(/unknown kind/)]);
    } finally {
      await b.close();
      await a.close();
    }
  });

  it('resyncs after its listen connection was cut, since what was published meanwhile is lost to it', async () => {
    const r = await relay(cluster.port);
    const viaRelay = new URL(url);
    viaRelay.port = String(r.port);
    const heard: ReplicaChange[] = [];
    let resyncs = 0;
    const { log } = recordingLog();
    const b = new ChangeFeed(viaRelay.toString(), pool, 'B', { change: (c) => heard.push(c), resync: () => void resyncs++ }, log);
    const a = new ChangeFeed(url, pool, 'A', { change: () => undefined, resync: () => undefined }, log);
    await b.start();
    try {
      await a.publish({ kind: 'config', app: 'before' });
      await waitFor(() => heard.length === 1, { what: () => 'the change before the cut' });
      expect(resyncs).toBe(0);

      r.cut();
      await a.publish({ kind: 'config', app: 'missed' });
      r.heal();
      await waitFor(() => resyncs === 1, { timeoutMs: 15_000, what: () => 'a resync after listening again' });
      await a.publish({ kind: 'config', app: 'after' });
      await waitFor(() => heard.some((c) => c.kind === 'config' && c.app === 'after'), { what: () => 'the change after the reconnection' });
      expect(heard.map((c) => (c.kind === 'config' ? c.app : c.kind))).toEqual(['before', 'after']);
      expect(resyncs).toBe(1);
    } finally {
      await b.close();
      await a.close();
      await r.close();
    }
  });
});
