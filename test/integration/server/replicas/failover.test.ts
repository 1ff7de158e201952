// Failover between replicas, with the real entrypoint: WAYPOINT_SERVER_ADDR names both; when
// the replica it is connected to is killed (-9), it registers on the other within its backoff,
// its app never restarts, what was committed is still there, and the killed replica started
// again rejoins as a new replica. Each scenario prints how long it took (the closing note's
// failover table). PostgreSQL run only.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { killDescendants } from '../../../helpers/proc.js';
import { REPLICAS, startReplicas, TEST_REPLICA_TIMEOUT } from '../../../helpers/replicas.js';
import { cleanEnv, ENTRYPOINT, killAll, type Running, start, waitFor } from '../../../helpers/run.js';
import { freePort, startServer, stopServers, type TestServer } from '../../../helpers/server.js';

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

/**
 * The entrypoint with WAYPOINT_SERVER_ADDR = the replicas' addresses, or `serverAddr`; with
 * `hostsFile`, in a mount namespace of its own where that file is /etc/hosts (the system's
 * resolver, getaddrinfo, reads it), so a name can have several addresses for it alone.
 */
function launch(servers: TestServer[], dep: { deploymentId: string; inviteToken: string }, named?: { serverAddr: string; hostsFile: string }): Running {
  const argv = ['sh', '-c', APP];
  const inNamespace = named && ['-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && exec "$@"', named.hostsFile, ENTRYPOINT, ...argv];
  const r = start(inNamespace ?? argv, {
    bin: inNamespace ? '/usr/bin/unshare' : undefined,
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: named?.serverAddr ?? servers.map((s) => s.addr).join(','),
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

  it('a DNS name with several addresses: killed under it, the replica is replaced by the other address of the same name, the app untouched', async () => {
    // Two replicas on one port, one on 127.0.0.1 and one on 127.0.0.2: one name for both.
    const port = await freePort();
    const [a] = await startReplicas(1, { port });
    const b = await startServer({ databaseUrl: a.databaseUrl, operatorToken: a.operatorToken, port, host: '127.0.0.2', args: ['--replica-timeout', TEST_REPLICA_TIMEOUT] });
    const hostsFile = path.join(dir, 'hosts');
    writeFileSync(hostsFile, '127.0.0.1 localhost\n127.0.0.1 replicas.test\n127.0.0.2 replicas.test\n');
    // The name resolves to both, through the system's resolver, in the namespace the entrypoint gets.
    const resolved = execFileSync('unshare', ['-m', 'sh', '-c', 'mount --bind "$0" /etc/hosts && getent ahostsv4 replicas.test', hostsFile]).toString();
    expect(new Set(resolved.match(/^127\.0\.0\.[12]/gm))).toEqual(new Set(['127.0.0.1', '127.0.0.2']));

    const dep = await a.createDeployment('shop');
    const ep = launch([], dep, { serverAddr: `replicas.test:${port}`, hostsFile });
    await waitFor(() => starts(ep).length === 1, { timeoutMs: 15_000, what: () => `the app's start; stderr: ${ep.stderr().toString().slice(-800)}` });
    let seen: Awaited<ReturnType<typeof placement>> = [];
    await waitFor(
      async () => {
        seen = await placement(a, 'shop');
        return seen.length === 1 && (seen[0].replica === a.addr || seen[0].replica === b.addr);
      },
      { timeoutMs: 5_000, what: () => `the instance listed on a replica: ${JSON.stringify(seen)}` },
    );
    // Whichever address the resolver put first took it: that replica goes.
    const [on, other] = seen[0].replica === a.addr ? [a, b] : [b, a];
    const instanceId = seen[0].id;
    const killedAt = Date.now();
    await on.stop({ signal: 'SIGKILL' });
    await waitFor(
      async () => {
        seen = await placement(other, 'shop');
        return seen.length === 1 && seen[0].replica === other.addr && !seen[0].disconnected;
      },
      { timeoutMs: 20_000, what: () => `the instance on ${other.addr}: ${JSON.stringify(seen)}; stderr: ${ep.stderr().toString().slice(-800)}` },
    );
    const movedMs = Date.now() - killedAt;
    expect(seen[0].id).toBe(instanceId);
    expect(starts(ep)).toHaveLength(1); // same app process, never restarted
    expect((await other.ctl(['config', 'set', '--app', 'shop', 'COLOR=teal'])).code).toBe(0);
    await waitFor(() => starts(ep).some((s) => s.color === 'teal'), { timeoutMs: 15_000, what: () => `a restart with COLOR=teal: ${ep.stdout().toString()}` });
    console.info(`failover by name: instance re-registered on ${other.addr} ${seconds(movedMs)} after kill -9 of ${on.addr} (both behind replicas.test)`);
  });
});
