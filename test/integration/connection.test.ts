// The entrypoint (the bundle) against the real reference server (`waypoint-ctl server run`,
// test/helpers/server.ts): registration seen by `waypoint-ctl instances`, the app started with its
// config, restarts of the server, a server started late, deployment isolation of tokens, TLS,
// and the server's own inline keepalives.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { childPids, killDescendants } from '../helpers/proc.js';
import { BINARY, cleanEnv, killAll, type Running, start, waitFor, withDeadline } from '../helpers/run.js';
import { CTL, freePort, startServer, stopServers, type TestServer } from '../helpers/server.js';

const APP = 'echo "started $(date +%s%N)"; i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done';

const entrypoints: Running[] = [];

afterEach(async () => {
  for (const r of entrypoints.splice(0)) killDescendants(r.pid);
  killAll();
  await stopServers();
});

interface Launched extends Running {
  t0: number;
}

async function deployment(server: TestServer, app = 'shop') {
  return server.createDeployment(app);
}

function launch(
  server: TestServer,
  dep: { deploymentId: string; inviteToken: string },
  extra: NodeJS.ProcessEnv = {},
  bin?: string,
): Launched {
  const env = cleanEnv({
    WAYPOINT_SERVER_ADDR: server.addr,
    WAYPOINT_DEPLOYMENT_ID: dep.deploymentId,
    WAYPOINT_CEB_INVITE_TOKEN: dep.inviteToken,
    WAYPOINT_CEB_CONNECT_TIMEOUT: '5s',
    WAYPOINT_LOG_LEVEL: 'debug',
    ...extra,
  });
  const t0 = Date.now();
  const r = start(['sh', '-c', APP], { env, bin });
  entrypoints.push(r);
  return { ...r, t0 };
}

async function appStartedAt(r: Running, timeoutMs = 10_000): Promise<number> {
  await r.waitForOutput(/started \d+\n/, { timeoutMs });
  return Number(BigInt(/started (\d+)\n/.exec(r.stdout().toString())![1]) / 1_000_000n);
}

/** `waypoint-ctl instances --json`, as an operator runs it. */
function ctlInstances(server: TestServer): Array<{ id: string; deployment_id: string; app: string; type: string }> {
  return JSON.parse(execFileSync(CTL, ['instances', '--json'], { env: server.env(), encoding: 'utf8' }));
}

const stderr = (r: Running) => r.stderr().toString();
const instanceIdOf = (r: Running) => /instance_id=([0-9A-Z]{26})/.exec(stderr(r))![1];

describe('against the reference server', () => {
  it('registers at once: the app starts with its config, and `instances --json` lists it until we exit', async () => {
    const server = await startServer();
    const dep = await deployment(server);
    const r = launch(server, dep);
    await appStartedAt(r);
    expect(stderr(r)).not.toContain('no config from the server in time'); // with its config, not at the connect timeout
    expect(stderr(r)).toMatch(/debug: config received count=1/);
    expect(stderr(r)).toMatch(/info: connected to the server .*server_version=/);
    const listed = ctlInstances(server);
    expect(listed).toEqual([expect.objectContaining({ id: instanceIdOf(r), deployment_id: dep.deploymentId, app: 'shop', type: 'LONG_RUNNING' })]);

    r.proc.kill('SIGTERM');
    expect((await withDeadline(r.exited, 5000, 'the entrypoint to exit')).code).toBe(143);
    await waitFor(() => ctlInstances(server).length === 0, { what: () => 'the instance to be dropped' });
  });

  it('server killed and restarted: the app is untouched and the instance registers again', async () => {
    const server = await startServer();
    const dep = await deployment(server);
    const r = launch(server, dep);
    await appStartedAt(r);
    await waitFor(async () => (await server.instances()).length === 1, { what: () => 'the registration' });
    const id = instanceIdOf(r);
    const [pid] = childPids(r.pid);
    await server.restart({ signal: 'SIGKILL' });
    await waitFor(async () => (await server.instances()).map((i) => i.id).join() === id, {
      timeoutMs: 15_000,
      what: () => 're-registration with the same instance id',
    });
    expect(stderr(r)).toContain('lost the server connection; reconnecting');
    expect(childPids(r.pid)).toEqual([pid]);
    const ticks = [...r.stdout().toString().matchAll(/^tick (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ticks).toEqual(ticks.map((_, i) => i + 1));
    // The token survived the restart (signed with the key in the data dir): no new exchange.
    expect(stderr(r)).not.toContain('refused');
  });

  it('server started after the entrypoint, within the window: the first start gets its config', async () => {
    const port = await freePort();
    const addr = `127.0.0.1:${port}`;
    // The deployment must exist before the entrypoint can use it: create it on a first run of
    // the server, stop it, start the entrypoint, then the server again on the same port.
    const server = await startServer({ port });
    const dep = await deployment(server);
    await server.stop();
    const r = launch(server, dep);
    await waitFor(() => (stderr(r).match(/connection attempt failed/g) ?? []).length >= 2, { what: () => 'refused attempts' });
    await server.restart();
    await appStartedAt(r);
    expect(stderr(r)).not.toContain('no config from the server in time');
    expect((await server.instances())[0].id).toBe(instanceIdOf(r));
    expect(server.addr).toBe(addr);
  });

  it('an entrypoint token of deployment A cannot register for deployment B; the app runs anyway', async () => {
    const server = await startServer();
    const a = await deployment(server, 'app-a');
    const b = await deployment(server, 'app-b');
    const r = launch(server, { deploymentId: b.deploymentId, inviteToken: a.inviteToken }, { WAYPOINT_CEB_CONNECT_TIMEOUT: '1s' });
    const at = await appStartedAt(r);
    expect(at - r.t0).toBeGreaterThanOrEqual(1000); // fail-open: no config came
    await r.waitForOutput(/error: the server refused us .*PERMISSION_DENIED/, { stream: 'stderr' });
    expect(await server.instances()).toEqual([]);
    for (const secret of [a.inviteToken, b.inviteToken]) expect(stderr(r)).not.toContain(secret);
  });

  it('TLS with the server’s self-signed certificate as CA file', async () => {
    const server = await startServer({ tls: true });
    const dep = await deployment(server);
    const r = launch(server, dep, { WAYPOINT_SERVER_TLS: '1', WAYPOINT_SERVER_TLS_CA_FILE: server.tls!.caFile });
    await appStartedAt(r);
    expect(stderr(r)).not.toContain('no config from the server in time');
    await waitFor(async () => (await server.instances()).length === 1, { what: () => 'the registration' });
    expect(stderr(r)).not.toMatch(/Warning|\(node:\d+\)/);
  });

  it('the server’s inline keepalives are dropped: one config, never an empty one', async () => {
    const server = await startServer({ keepaliveMs: 100 });
    const dep = await deployment(server);
    const r = launch(server, dep, { WAYPOINT_LOG_LEVEL: 'trace' });
    await appStartedAt(r);
    await waitFor(() => (stderr(r).match(/inline keepalive dropped/g) ?? []).length >= 3, { what: () => 'three keepalives' });
    expect((stderr(r).match(/config received/g) ?? []).length).toBe(1);
  });

  // Locally the binary is an extra build step (npm run build:binary); CI always has it.
  it.skipIf(!existsSync(BINARY) && !process.env.CI)(
    'the single binary, alone in an empty directory, connects (the connection comes from its own assets)',
    async () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-binary-connect-'));
      try {
        const lonely = path.join(dir, 'waypoint-entrypoint');
        copyFileSync(BINARY, lonely);
        const server = await startServer();
        const dep = await deployment(server);
        const r = launch(server, dep, {}, lonely);
        await appStartedAt(r);
        expect(stderr(r)).not.toContain('no config from the server in time');
        expect(stderr(r)).toMatch(/debug: config received count=1/);
        await waitFor(async () => (await server.instances()).length === 1, { what: () => 'the registration' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
