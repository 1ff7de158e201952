// The server on PostgreSQL, where SQLite has no counterpart: `server migrate` from a SQLite
// data dir (every kind of row kept, tokens still valid), and PostgreSQL restarted under a
// running server (a request during the outage fails with one line, the server lives, and no
// acknowledged write is lost). One throwaway cluster for the file (test/helpers/postgres.ts).
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FakeEntrypoint } from '../../helpers/fake-entrypoint.js';
import { convertInviteToken, grpc, rpcError, waypointClient } from '../../helpers/grpc.js';
import { type PgCluster, startPostgres } from '../../helpers/postgres.js';
import { cleanEnv, killAll, run, waitFor } from '../../helpers/run.js';
import { CTL, freePort, startServer, stopServers, type TestServer } from '../../helpers/server.js';
import { startReplicas } from '../../helpers/replicas.js';

let cluster: PgCluster;
beforeAll(async () => {
  cluster = await startPostgres();
}, 120_000);
afterAll(() => cluster?.stop());
afterEach(async () => {
  await stopServers();
  killAll();
});

async function ok(server: TestServer, args: string[]): Promise<string> {
  const r = await server.ctl(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr.toString()}`).toBe(0);
  return r.stdout.toString();
}

/** What the operator sees of a server's state, to compare before and after. */
async function snapshot(server: TestServer) {
  const json = async (args: string[]) => JSON.parse(await ok(server, [...args, '--json'])) as unknown;
  return {
    deployments: await json(['deployment', 'list']),
    globalConfig: await json(['config', 'get']),
    webConfig: await json(['config', 'get', '--app', 'web']),
    webSources: await json(['config', 'source', 'get', '--app', 'web']),
    tokens: await json(['token', 'list']),
    history: await json(['exec-history']),
  };
}

describe('server migrate', () => {
  it('copies every kind of row of a SQLite data dir; a server on PostgreSQL then serves the same, its tokens valid', { timeout: 120_000 }, async () => {
    const sqlite = await startServer();
    expect(sqlite.databaseUrl).toBeUndefined();
    // Apps, deployments, an instance's entrypoint token (exchanged from an invite), a revoked invite.
    const ep = await FakeEntrypoint.connect(sqlite, 'web');
    await sqlite.createDeployment('api', { tier: 'back' });
    const spare = JSON.parse(await ok(sqlite, ['deployment', 'invite', ep.deploymentId, '--json'])) as { invite_token: string };
    const revoked = JSON.parse(await ok(sqlite, ['deployment', 'invite', ep.deploymentId, '--json'])) as { invite_token: string };
    // Vars of each kind, global and per app, and a file change signal.
    await ok(sqlite, ['config', 'set', 'GLOBAL=g', 'SHARED=global']);
    await ok(sqlite, ['config', 'set', '--app', 'web', 'SHARED=web', '--internal', 'SECRET=s3cr3t', '--file', '/etc/app.conf=line1']);
    await ok(sqlite, ['config', 'file-signal', '--app', 'web', 'SIGHUP']);
    // Dynamic config: a source's settings (with a secret) and a dynamic var.
    await ok(sqlite, ['config', 'source', 'set', '--app', 'web', 'null', 'values.k=from-source', 'token=hvs.migratedSourceToken']);
    await ok(sqlite, ['config', 'set', '--app', 'web', '--dynamic', 'null', 'DYN', 'config_key=k']);
    // Exec history: an exit code, and a failure.
    await sqlite.ctl(['exec', '--app', 'web', '--', 'exit', '3']);
    await sqlite.ctl(['exec', '--app', 'web', '--', 'nosuch']);
    const tokens = JSON.parse(await ok(sqlite, ['token', 'list', '--json'])) as Array<{ id: string; kind: string; parent_id: string }>;
    const toRevoke = tokens.filter((t) => t.kind === 'invite').at(-1)!; // the last one made: `revoked`
    await ok(sqlite, ['token', 'revoke', toRevoke.id]);
    const before = await snapshot(sqlite);
    expect((before.history as unknown[]).length).toBe(2);
    await waitFor(() => JSON.stringify(ep.configs.at(-1)?.config?.env_vars ?? []).includes('/etc/app.conf'), { what: () => 'the last push' });
    const served = ep.configs.at(-1)!.config;
    ep.close();
    await sqlite.stop();

    const url = await cluster.createDatabase();
    const migrated = await sqlite.ctl(['server', 'migrate', '--from-data-dir', sqlite.dataDir, '--database', url]);
    expect(migrated.code, migrated.stderr.toString()).toBe(0);
    const out = migrated.stdout.toString();
    expect(out).toMatch(/ 2 apps\n {2}2 deployments\n {2}\d+ token records\n {2}6 config vars\n {2}1 config sources\n {2}2 exec sessions\n {2}the token signing key\n/);
    // Again: the database is not empty any more.
    const again = await sqlite.ctl(['server', 'migrate', '--from-data-dir', sqlite.dataDir, '--database', url]);
    expect(again.code).toBe(1);
    expect(again.stderr.toString()).toMatch(/^waypoint-ctl: cannot migrate into postgres:\/\/.*: the database is not empty \(its apps table has rows\): migrate into a new, empty database\n$/);

    const pg = await startServer({ databaseUrl: url, operatorToken: sqlite.operatorToken });
    expect(await snapshot(pg)).toEqual(before);
    // The instance's entrypoint token and an unused invite still work; the revoked invite does not.
    const back = await FakeEntrypoint.connect(pg, 'web', { deploymentId: ep.deploymentId, token: ep.token, instanceId: ep.id });
    // The same config (the exec requests it listed then are long gone).
    expect({ ...back.configs[0].config, exec: [] }).toEqual({ ...served, exec: [] });
    const wp = waypointClient(pg.addr);
    try {
      expect((await convertInviteToken(wp, spare.invite_token)).token).toMatch(/^wp1\./);
      expect((await rpcError(convertInviteToken(wp, revoked.invite_token))).code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      wp.close();
    }
    // New exec sessions go on past the copied ids.
    await pg.ctl(['exec', '--app', 'web', '--', 'exit', '0']);
    const history = JSON.parse(await ok(pg, ['exec-history', '--json'])) as Array<{ id: string }>;
    expect(Number(history[0].id)).toBeGreaterThan(Math.max(...(before.history as Array<{ id: string }>).map((h) => Number(h.id))));
    back.close();
  });
});

describe('PostgreSQL restarted under a running server', () => {
  it('a request during the outage fails with one line; after the restart the server works, no acknowledged write lost', { timeout: 120_000 }, async () => {
    const url = await cluster.createDatabase();
    const server = await startServer({ databaseUrl: url });
    const ep = await FakeEntrypoint.connect(server, 'web');
    await ok(server, ['config', 'set', '--app', 'web', 'BEFORE=1']);
    const got = (name: string) => ep.configs.some((c) => c.config?.env_vars?.some((v) => v.name === name));
    await waitFor(() => got('BEFORE'), { what: () => 'the push of BEFORE' });

    cluster.pause();
    const during = await server.ctl(['config', 'set', '--app', 'web', 'DURING=1']);
    expect(during.code).toBe(1);
    expect(during.stderr.toString()).toMatch(
      /^waypoint-ctl: the server at 127\.0\.0\.1:\d+ cannot serve this now: the database is unavailable \([^\n]*\): check that PostgreSQL is running and reachable; the server reconnects by itself\n$/,
    );
    expect(server.proc.proc.exitCode).toBeNull();

    cluster.resume();
    // The pool reconnects on its own: the next request works.
    await waitFor(async () => (await server.ctl(['config', 'set', '--app', 'web', 'AFTER=1'])).code === 0, { what: () => 'a config set after the restart' });
    const names = (JSON.parse(await ok(server, ['config', 'get', '--app', 'web', '--json'])) as { vars: Array<{ name: string }> }).vars.map((v) => v.name);
    expect(names).toContain('BEFORE');
    expect(names).toContain('AFTER');
    expect(names).not.toContain('DURING');
    await waitFor(() => got('AFTER'), { what: () => 'the push of AFTER' });
    expect(got('DURING')).toBe(false);
    // The instance stayed connected all along, and its token still works.
    expect((await server.instances('web')).map((i) => i.id)).toEqual([ep.id]);
    ep.close();
  });
});

describe('PostgreSQL restarted under two replicas', () => {
  it('both reconnect and resync: a change made on one after the restart reaches the instance on the other; no acknowledged write lost', { timeout: 120_000 }, async () => {
    const url = await cluster.createDatabase();
    const [a, b] = await startReplicas(2, { databaseUrl: url });
    const onB = await FakeEntrypoint.connect(b, 'web');
    const got = (name: string) => onB.configs.some((c) => c.config?.env_vars?.some((v) => v.name === name));
    await ok(a, ['config', 'set', '--app', 'web', 'BEFORE=1']);
    await waitFor(() => got('BEFORE'), { what: () => "the push of BEFORE to B's instance" });

    const restartedAt = Date.now();
    cluster.restart();
    await waitFor(async () => (await a.ctl(['config', 'set', '--app', 'web', 'AFTER=1'])).code === 0, { what: () => 'a config set on A after the restart' });
    const writableMs = Date.now() - restartedAt;
    // B listens again (or resyncs, if the notification came before it did): the change reaches its instance.
    await waitFor(() => got('AFTER'), { timeoutMs: 15_000, what: () => "the push of AFTER to B's instance" });
    const pushedMs = Date.now() - restartedAt;
    const names = (JSON.parse(await ok(b, ['config', 'get', '--app', 'web', '--json'])) as { vars: Array<{ name: string }> }).vars.map((v) => v.name);
    expect(names).toEqual(expect.arrayContaining(['BEFORE', 'AFTER']));
    // Both replicas heartbeat again, and B's instance is still connected to it.
    await waitFor(
      async () => {
        const r = JSON.parse(await ok(a, ['server', 'replicas', '--json'])) as { replicas: Array<{ alive: boolean }> };
        return r.replicas.length === 2 && r.replicas.every((x) => x.alive);
      },
      { timeoutMs: 15_000, what: () => 'both replicas alive after the restart' },
    );
    expect((await a.instances('web')).map((i) => i.id)).toEqual([onB.id]);
    console.info(`PostgreSQL restart under two replicas: writes accepted again after ${(writableMs / 1000).toFixed(2)} s, the change on A reached B's instance after ${(pushedMs / 1000).toFixed(2)} s`);
    onB.close();
  });
});

describe('server run --database', () => {
  it('refuses what is no PostgreSQL URL (usage, exit 2) and a database it cannot reach (one line, exit 1, no password shown)', async () => {
    const serve = (url: string, env: NodeJS.ProcessEnv = {}) =>
      run(['server', 'run', '--listen', '127.0.0.1:0', '--http-listen', 'off', '--no-context', ...(url ? ['--database', url] : [])], {
        bin: CTL,
        env: cleanEnv(env),
      });
    const mysql = await serve('mysql://root@127.0.0.1/x');
    expect(mysql.code).toBe(2);
    expect(mysql.stderr.toString()).toMatch(/--database must be a PostgreSQL URL: postgres:\/\/user:password@host:5432\/db/);
    const port = await freePort();
    const down = await serve('', { WAYPOINT_DATABASE_URL: `postgres://wp:hunter2@127.0.0.1:${port}/waypoint` });
    expect(down.code).toBe(1);
    expect(down.stderr.toString()).toBe(
      `waypoint-ctl: cannot open the database postgres://wp:***@127.0.0.1:${port}/waypoint: it is unavailable (connect ECONNREFUSED 127.0.0.1:${port}): ` +
        'check that PostgreSQL is running there and the URL is right\n',
    );
  });
});
