// Replicas on one PostgreSQL database: each knows the others (server replicas), lists the
// instances of all with the replica of each, pushes a config change made on any of them to the
// instances on every one (LISTEN/NOTIFY), and ends the streams of a token revoked anywhere.
// PostgreSQL run only (vitest.postgres.config.ts); the SQLite run skips them.
import { afterEach, describe, expect, it } from 'vitest';
import type { EntrypointConfigResponse__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { grpc, listInstances, md, setConfig, statusClient, unary } from '../../../helpers/grpc.js';
import { REPLICAS, startReplicas } from '../../../helpers/replicas.js';
import { waitFor } from '../../../helpers/run.js';
import { stopServers, type FakeInstance, type TestServer } from '../../../helpers/server.js';

afterEach(async () => {
  await stopServers();
});

const envOf = (m: EntrypointConfigResponse__Output | undefined) =>
  Object.fromEntries((m?.config?.env_vars ?? []).map((v) => [v.name, v.static]));
const lastEnv = (i: FakeInstance) => envOf(i.config.messages[i.config.messages.length - 1]);

interface ReplicaJson {
  id: string;
  alive: boolean;
  self: boolean;
  grpc_address: string;
  http_address: string | null;
  instances: number;
}

async function replicasOf(server: TestServer): Promise<ReplicaJson[]> {
  const r = await server.ctl(['server', 'replicas', '--json']);
  expect(r.stderr.toString()).toBe('');
  return (JSON.parse(r.stdout.toString()) as { replicas: ReplicaJson[] }).replicas;
}

describe.skipIf(!REPLICAS)('replicas of one database', () => {
  it('list each other, alive, with their addresses and instance counts', async () => {
    const [a, b] = await startReplicas(2);
    await b.connectInstance('web');
    let seen: ReplicaJson[] = [];
    await waitFor(
      async () => {
        seen = await replicasOf(a);
        return seen.length === 2 && seen.every((r) => r.alive) && seen.reduce((n, r) => n + r.instances, 0) === 1;
      },
      { timeoutMs: 10_000, what: () => `two alive replicas, one instance: ${JSON.stringify(seen)}` },
    );
    const self = seen.find((r) => r.self)!;
    const other = seen.find((r) => !r.self)!;
    expect(self.grpc_address).toBe(a.addr);
    expect(self.http_address).toBe(a.httpAddr);
    expect(other.grpc_address).toBe(b.addr);
    expect(other.http_address).toBe(b.httpAddr);
    expect(other.instances).toBe(1);

    const table = (await a.ctl(['server', 'replicas'])).stdout.toString();
    expect(table).toMatch(/REPLICA\s+HEALTH\s+GRPC/);
    expect(table.match(/\balive\b/g)).toHaveLength(2);
  });

  it('list the instances of every replica, each with its replica', async () => {
    const [a, b] = await startReplicas(2);
    const onA = await a.connectInstance('web');
    const onB = await b.connectInstance('web');
    const replicaIds = new Map((await replicasOf(a)).map((r) => [r.grpc_address, r.id]));
    let listed: Awaited<ReturnType<TestServer['instances']>> = [];
    await waitFor(
      async () => {
        listed = await a.instances('web');
        return listed.length === 2;
      },
      { timeoutMs: 5_000, what: () => `both instances listed by A: ${JSON.stringify(listed)}` },
    );
    const byId = new Map(listed.map((i) => [i.id, i]));
    expect(byId.get(onA.id)?.replica_id).toBe(replicaIds.get(a.addr));
    expect(byId.get(onB.id)?.replica_id).toBe(replicaIds.get(b.addr));
    expect(byId.get(onB.id)?.replica_address).toBe(b.addr);
    expect(byId.get(onB.id)?.disconnected).toBe(false);

    const table = (await a.ctl(['instances'])).stdout.toString();
    expect(table).toMatch(/REPLICA/);
    expect(table).toContain(onB.id);

    // The console's API too: B's instance connected, on B, its line count B's to know.
    const res = await fetch(`http://${a.httpAddr}/api/v1/instances?app=web`, { headers: { authorization: `Bearer ${a.operatorToken}` } });
    expect(res.status).toBe(200);
    const { instances } = (await res.json()) as { instances: Array<{ id: string; state: string; logLines: number | null; replica: { address: string } | null }> };
    const viaConsole = new Map(instances.map((i) => [i.id, i]));
    expect(viaConsole.get(onB.id)).toMatchObject({ state: 'connected', logLines: null, replica: { address: b.addr } });
    expect(viaConsole.get(onA.id)).toMatchObject({ state: 'connected', logLines: 0, replica: { address: a.addr } });
  });

  it('push a config change made on one replica to the instances on the other', async () => {
    const [a, b] = await startReplicas(2);
    const onB = await b.connectInstance('web');
    const globalOnB = await b.connectInstance('api');
    const control = a.control();

    await setConfig(control, { app: 'web', set: [{ name: 'COLOR', kind: 'STATIC', value: Buffer.from('blue') }] }, a.operator());
    await waitFor(() => lastEnv(onB).COLOR === 'blue', { timeoutMs: 5_000, what: () => `COLOR=blue on B's instance: ${JSON.stringify(lastEnv(onB))}` });

    // A global change reaches every app on the other replica; an app's does not reach another app.
    await setConfig(control, { app: '', set: [{ name: 'REGION', kind: 'STATIC', value: Buffer.from('eu') }] }, a.operator());
    await waitFor(() => lastEnv(onB).REGION === 'eu' && lastEnv(globalOnB).REGION === 'eu', {
      timeoutMs: 5_000,
      what: () => `REGION=eu on both of B's instances: ${JSON.stringify([lastEnv(onB), lastEnv(globalOnB)])}`,
    });
    expect(lastEnv(globalOnB).COLOR).toBeUndefined();
    // Each change reached each instance once: no second push of the same config.
    expect(onB.config.messages).toHaveLength(3);
    expect(globalOnB.config.messages).toHaveLength(2);
  });

  it('end the config stream, on any replica, of an instance whose token was revoked on another', async () => {
    const [a, b] = await startReplicas(2);
    const onB = await b.connectInstance('web');
    const r = await a.ctl(['token', 'list', '--json']);
    const tokens = JSON.parse(r.stdout.toString()) as Array<{ id: string; kind: string; deployment_id: string }>;
    const entrypoint = tokens.find((t) => t.kind === 'entrypoint' && t.deployment_id === onB.deploymentId)!;
    expect((await a.ctl(['token', 'revoke', entrypoint.id])).code).toBe(0);
    const err = await onB.config.waitForEnd(5_000);
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.details).toMatch(/revoked/);
  });

  it('show the instances of a replica that stopped answering as disconnected, and forget them when they connect elsewhere', async () => {
    const [a, b] = await startReplicas(2);
    const onA = await a.connectInstance('web');
    const control = b.control();
    await waitFor(async () => (await listInstances(control, b.operator(), 'web')).instances.length === 1, { timeoutMs: 5_000, what: () => 'B lists A instance' });
    await a.stop({ signal: 'SIGKILL' });
    let listed: Awaited<ReturnType<typeof listInstances>>['instances'] = [];
    await waitFor(
      async () => {
        listed = (await listInstances(control, b.operator(), 'web')).instances;
        return listed.length === 1 && listed[0].disconnected;
      },
      { timeoutMs: 10_000, what: () => `A's instance disconnected on B: ${JSON.stringify(listed)}` },
    );
    expect(listed[0].id).toBe(onA.id);
    expect((await b.ctl(['instances'])).stdout.toString()).toMatch(/DISCONNECTED/);

    // The same instance id registers on B: one row, B's, connected.
    await b.connectInstance('web', { deploymentId: onA.deploymentId, token: onA.token, instanceId: onA.id });
    await waitFor(
      async () => {
        listed = (await listInstances(control, b.operator(), 'web')).instances;
        return listed.length === 1 && !listed[0].disconnected && listed[0].replica_address === b.addr;
      },
      { timeoutMs: 5_000, what: () => `A's instance connected on B: ${JSON.stringify(listed)}` },
    );
    const gone = (await replicasOf(b)).filter((r) => !r.alive);
    expect(gone).toHaveLength(1);
  });

  it('share console sessions: signed in through one, served by the other; signed out through one, ended on both with their streams', async () => {
    const [a, b] = await startReplicas(2);
    const signIn = await fetch(`http://${a.httpAddr}/api/v1/session`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: a.operatorToken }),
    });
    expect(signIn.status).toBe(200);
    const { csrf } = (await signIn.json()) as { csrf: string };
    const cookie = /wp_console=[^;]+/.exec(signIn.headers.get('set-cookie') ?? '')![0];
    const get = (server: TestServer, route: string) => fetch(`http://${server.httpAddr}${route}`, { headers: { cookie } });
    expect((await get(b, '/api/v1/session')).status).toBe(200);
    expect((await get(b, '/api/v1/instances')).status).toBe(200);

    // A live stream of the session on A, then a sign-out through B.
    const controller = new AbortController();
    const stream = await fetch(`http://${a.httpAddr}/api/v1/instances/stream`, { headers: { cookie }, signal: controller.signal });
    expect(stream.status).toBe(200);
    const streamEnded = (async () => {
      const reader = stream.body!.getReader();
      for (;;) if ((await reader.read()).done) return true;
    })();
    const signOut = await fetch(`http://${b.httpAddr}/api/v1/session`, { method: 'DELETE', headers: { cookie, 'x-csrf-token': csrf } });
    expect(signOut.status).toBe(204);
    expect((await get(a, '/api/v1/instances')).status).toBe(401);
    expect((await get(b, '/api/v1/instances')).status).toBe(401);
    let ended = false;
    void streamEnded.then(() => (ended = true), () => (ended = true));
    try {
      await waitFor(() => ended, { timeoutMs: 5_000, what: () => "the session's stream on A to end" });
    } finally {
      controller.abort();
    }
  });

  it('show the dynamic config status of an instance on the other replica, once a var\'s state changes', async () => {
    const [a, b] = await startReplicas(2);
    const onB = await b.connectInstance('web');
    const status = statusClient(b.addr);
    const report = (ok: boolean, message: string) =>
      unary<object>((o, cb) => status.ReportConfig({ instance_id: onB.id, vars: [{ name: 'DB_PASSWORD', source: 'vault', ok, message }] }, md({ token: onB.token }), o, cb));
    const seen = async () => {
      const r = await a.ctl(['config', 'status', '--app', 'web', '--json']);
      return r.stdout.toString();
    };
    try {
      await report(false, 'permission denied (403)');
      let out = '';
      await waitFor(
        async () => {
          out = await seen();
          return out.includes('permission denied (403)');
        },
        { timeoutMs: 5_000, what: () => `A to show B's instance failing: ${out}` },
      );
      expect(out).toContain(onB.id);
      await report(true, '');
      await waitFor(
        async () => {
          out = await seen();
          return !out.includes('permission denied') && out.includes(onB.id);
        },
        { timeoutMs: 5_000, what: () => `A to show B's instance resolved: ${out}` },
      );
    } finally {
      status.close();
    }
  });
});
