// Failover between replicas, with the real entrypoint: WAYPOINT_SERVER_ADDR names both; when
// the replica it is connected to is killed (-9), it registers on the other within its backoff,
// its app never restarts, what was committed is still there, and the killed replica started
// again rejoins as a new replica. Each scenario prints how long it took (the closing note's
// failover table). PostgreSQL run only.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killDescendants } from '../../../helpers/proc.js';
import { REPLICAS, startReplicas } from '../../../helpers/replicas.js';
import { cleanEnv, killAll, type Running, start, waitFor } from '../../../helpers/run.js';
import { stopServers, type TestServer } from '../../../helpers/server.js';

const entrypoints: Running[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-failover-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const r of entrypoints.splice(0)) killDescendants(r.pid);
  killAll();
  await stopServers();
});

/** Prints its pid and $COLOR at each start; runs until TERM. */
const APP = ['trap "exit 0" TERM', 'echo "start $$ color=$COLOR"', 'while :; do sleep 0.02; done'].join('\n');

function launch(servers: TestServer[], dep: { deploymentId: string; inviteToken: string }): Running {
  const r = start(['sh', '-c', APP], {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: servers.map((s) => s.addr).join(','),
      WAYPOINT_DEPLOYMENT_ID: dep.deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: dep.inviteToken,
      WAYPOINT_LOG_LEVEL: 'debug',
    }),
    cwd: dir,
  });
  entrypoints.push(r);
  return r;
}

const starts = (r: Running) => [...r.stdout().toString().matchAll(/^start (\d+) color=(.*)$/gm)].map((m) => ({ pid: Number(m[1]), color: m[2] }));

/** The replica address each live instance of `app` is connected to, as `server` lists them. */
async function placement(server: TestServer, app: string): Promise<Array<{ id: string; replica: string; disconnected: boolean }>> {
  return (await server.instances(app)).map((i) => ({ id: i.id, replica: i.replica_address, disconnected: i.disconnected }));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

describe.skipIf(!REPLICAS)('failover between replicas', () => {
  it('kill -9 of the replica an entrypoint is on: it registers on the other, its app keeps running, nothing committed is lost, and the killed one rejoins', async () => {
    const [a, b] = await startReplicas(2);
    const dep = await a.createDeployment('shop');
    expect((await a.ctl(['config', 'set', '--app', 'shop', 'COLOR=blue'])).code).toBe(0);
    // The entrypoint tries the addresses in order: it lands on A.
    const ep = launch([a, b], dep);
    await waitFor(() => starts(ep).length === 1, { timeoutMs: 15_000, what: () => `the app's start; stderr: ${ep.stderr().toString().slice(-800)}` });
    expect(starts(ep)[0].color).toBe('blue');
    let seen: Awaited<ReturnType<typeof placement>> = [];
    await waitFor(
      async () => {
        seen = await placement(b, 'shop');
        return seen.length === 1 && seen[0].replica === a.addr;
      },
      { timeoutMs: 5_000, what: () => `the instance listed on A: ${JSON.stringify(seen)}` },
    );
    const instanceId = seen[0].id;

    const killedAt = Date.now();
    await a.stop({ signal: 'SIGKILL' });
    await waitFor(
      async () => {
        seen = await placement(b, 'shop');
        return seen.length === 1 && seen[0].replica === b.addr && !seen[0].disconnected;
      },
      { timeoutMs: 20_000, what: () => `the instance on B: ${JSON.stringify(seen)}` },
    );
    const movedMs = Date.now() - killedAt;
    expect(seen[0].id).toBe(instanceId);
    // The app never noticed: one start, same pid, still running.
    expect(starts(ep)).toHaveLength(1);

    // The others show A gone once it misses its heartbeats.
    let replicas: Array<{ id: string; alive: boolean; grpc_address: string }> = [];
    await waitFor(
      async () => {
        replicas = (JSON.parse((await b.ctl(['server', 'replicas', '--json'])).stdout.toString()) as { replicas: typeof replicas }).replicas;
        return replicas.some((r) => !r.alive);
      },
      { timeoutMs: 10_000, what: () => `the killed replica shown gone: ${JSON.stringify(replicas)}` },
    );
    const goneMs = Date.now() - killedAt;

    // What A committed is there, and B serves changes to the moved instance.
    const got = await b.ctl(['config', 'get', '--app', 'shop', '--json']);
    expect(got.stdout.toString()).toContain('COLOR');
    expect((await b.ctl(['config', 'set', '--app', 'shop', 'COLOR=green'])).code).toBe(0);
    await waitFor(() => starts(ep).some((s) => s.color === 'green'), { timeoutMs: 15_000, what: () => `a restart with COLOR=green: ${ep.stdout().toString()}` });

    // A started again is a new replica (a new id) at the same address: it replaces its dead self.
    await a.restart();
    await waitFor(
      async () => {
        replicas = (JSON.parse((await b.ctl(['server', 'replicas', '--json'])).stdout.toString()) as { replicas: typeof replicas }).replicas;
        return replicas.filter((r) => r.alive).length === 2;
      },
      { timeoutMs: 10_000, what: () => `A rejoined: ${JSON.stringify(replicas)}` },
    );
    expect(replicas.map((r) => r.grpc_address).sort()).toEqual([a.addr, b.addr].sort());
    console.info(`failover: instance re-registered on B ${seconds(movedMs)} after kill -9 of A; A shown gone after ${seconds(goneMs)} (--replica-timeout 2s)`);
  });
});
