// The instance status end to end: the entrypoint (the bundle) tells the real server what became
// of a config (RUNNING, CONFIG_REFUSED, RESTART_FAILED), `waypoint-ctl instances` shows it (a
// column, and --json), a reconnect reports it again; and the server takes a report only from the
// entrypoint token that registered the instance.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { InstanceInfo__Output } from '../../../../src/protocol/generated/waypoint_entrypoint/control/v1/InstanceInfo.js';
import { convertInviteToken, md, openConfig, reportStatus, rpcError, statusClient, waypointClient, grpc } from '../../../helpers/grpc.js';
import { childPids, isRunning, killDescendants } from '../../../helpers/proc.js';
import { writeShellScript } from '../../../helpers/scripts.js';
import { cleanEnv, killAll, type Running, start, waitFor } from '../../../helpers/run.js';
import { startServer, stopServers, type TestServer } from '../../../helpers/server.js';
import { ulid } from '../../../../src/ids.js';
import { protocol } from '../../../../src/protocol/load.js';

/** At each start: its pid; TERM ends it (after `onTerm`). */
const appScript = (onTerm = '') => [`trap '${onTerm} exit 0' TERM`, 'echo "start $$"', 'while :; do sleep 0.02; done'].join('\n');

const entrypoints: Running[] = [];
const clients: grpc.Client[] = [];
let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-status-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const r of entrypoints.splice(0)) killDescendants(r.pid);
  killAll();
  await stopServers();
});

function launch(server: TestServer, dep: { deploymentId: string; inviteToken: string }, argv: string[], extra: NodeJS.ProcessEnv = {}): Running {
  const r = start(argv, {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: dep.deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: dep.inviteToken,
      WAYPOINT_CEB_STOP_TIMEOUT: '5s',
      WAYPOINT_LOG_LEVEL: 'debug',
      ...extra,
    }),
    cwd: dir,
  });
  entrypoints.push(r);
  return r;
}

const starts = (r: Running) => [...r.stdout().toString().matchAll(/^start (\d+)$/gm)].map((m) => Number(m[1]));

async function startCount(r: Running, n: number): Promise<number> {
  await waitFor(() => starts(r).length >= n, { what: () => `${n} start(s); stderr: ${r.stderr().toString().slice(-800)}` });
  return starts(r)[n - 1];
}

/** The one instance's record once it shows `state` (and, if given, holds `part` in its message). */
async function stateOf(server: TestServer, state: string, part = ''): Promise<InstanceInfo__Output> {
  let last: InstanceInfo__Output[] = [];
  await waitFor(
    async () => {
      last = await server.instances();
      return last.length === 1 && last[0].state === state && last[0].state_message.includes(part);
    },
    { timeoutMs: 15_000, what: () => `state ${state} (${part}); instances: ${JSON.stringify(last)}` },
  );
  return last[0];
}

interface InstanceJson {
  id: string;
  state: string | null;
  state_message: string;
  state_since: string | null;
}

async function ctlInstances(server: TestServer): Promise<InstanceJson[]> {
  const r = await server.ctl(['instances', '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout.toString()) as InstanceJson[];
}

/** A Report whose request is these bytes. */
function rawReport(client: grpc.Client, bytes: Buffer, token: string): Promise<unknown> {
  const { path: method, responseDeserialize } = (protocol().waypoint_entrypoint.status.v1.InstanceStatus.service as grpc.ServiceDefinition).Report;
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method, () => bytes, responseDeserialize, {}, md({ token }), { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** An app script of its own, per test. */
const script = (name: string, onTerm = '') => writeShellScript(dir, name, appScript(onTerm));

describe('the entrypoint reports what became of a config', () => {
  it('H3: a PATH the command is not on: same pid, CONFIG_REFUSED naming the problem and the vars (no value), kept across a server restart; a good config: RUNNING', async () => {
    const server = await startServer();
    const dep = await server.createDeployment('shop');
    const r = launch(server, dep, ['sh', '-c', appScript()]);
    const pid = await startCount(r, 1);
    const running = await stateOf(server, 'RUNNING');
    expect(running.state_message).toBe('');

    const set = await server.ctl(['config', 'set', '--app', 'shop', 'PATH=/nonexistent-secret-dir', 'API_KEY=hunter2-value']);
    expect(set.code).toBe(0);
    const refused = await stateOf(server, 'CONFIG_REFUSED');
    expect(refused.state_message).toBe(
      'config env not applied: sh: command not found; the app keeps running with its current env (changed: API_KEY, PATH)',
    );
    expect(childPids(r.pid)).toEqual([pid]);
    expect(starts(r)).toEqual([pid]);

    // What the operator sees: the state in a column and in --json, never a value.
    const table = (await server.ctl(['instances'])).stdout.toString();
    expect(table).toMatch(/^INSTANCE\s+APP\s+DEPLOYMENT\s+TYPE\s+EXEC\s+STATE\s+CONNECTED\s+LINES\s+REMOTE\s+MESSAGE\n/);
    expect(table).toMatch(/\sCONFIG_REFUSED\s.*config env not applied: sh: command not found/);
    const [json] = await ctlInstances(server);
    expect(json).toMatchObject({ state: 'CONFIG_REFUSED', state_message: refused.state_message });
    const since = Date.parse(json.state_since!);
    expect(since).toBeGreaterThan(Date.now() - 60_000);
    for (const text of [table, JSON.stringify(json), r.stderr().toString()]) {
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('nonexistent-secret-dir');
    }

    // The server forgets on disconnect; the entrypoint says it again, with its own time.
    await server.restart({ signal: 'SIGKILL' });
    const again = await stateOf(server, 'CONFIG_REFUSED');
    expect(again.state_message).toBe(refused.state_message);
    expect(Date.parse((await ctlInstances(server))[0].state_since!)).toBe(since);
    expect(childPids(r.pid)).toEqual([pid]);

    // A good config: the app restarts with it, and runs.
    expect((await server.ctl(['config', 'unset', '--app', 'shop', 'PATH'])).code).toBe(0);
    const second = await startCount(r, 2);
    expect(isRunning(pid)).toBe(false);
    expect(childPids(r.pid)).toEqual([second]);
    const back = await stateOf(server, 'RUNNING');
    expect(back.state_message).toBe('');
    expect((await ctlInstances(server))[0]).toMatchObject({ state: 'RUNNING', state_message: '' });
  });

  it('H3: a restart that fails after the stop: RESTART_FAILED, the app running again with the env that worked', async () => {
    const server = await startServer();
    const dep = await server.createDeployment('shop');
    const good = path.join(dir, 'fallback/good');
    const doomed = path.join(dir, 'fallback/doomed');
    // The new PATH's myapp is there at the check, gone by the start: the running app's stop removes it.
    script('fallback/good/myapp', `rm -f ${doomed}/myapp;`);
    script('fallback/doomed/myapp');
    const r = launch(server, dep, ['myapp'], { PATH: `${good}:${process.env.PATH}` });
    const first = await startCount(r, 1);
    await stateOf(server, 'RUNNING');

    expect((await server.ctl(['config', 'set', '--app', 'shop', `PATH=${doomed}:${process.env.PATH}`])).code).toBe(0);
    const again = await startCount(r, 2);
    const failed = await stateOf(server, 'RESTART_FAILED');
    expect(failed.state_message).toBe('restart failed: myapp: command not found; the app runs again with the env it last ran with (changed: PATH)');
    expect(childPids(r.pid)).toEqual([again]);
    expect(isRunning(first)).toBe(false);
    expect((await ctlInstances(server))[0]).toMatchObject({ state: 'RESTART_FAILED', state_message: failed.state_message });
  });
});

describe('the server takes a status only from the token that registered the instance', () => {
  it('another deployment, another token of the same deployment, the operator, an invite: PERMISSION_DENIED; the owner: taken', async () => {
    const server = await startServer();
    const wp = waypointClient(server.addr);
    const status = statusClient(server.addr);
    clients.push(wp, status);
    const { deploymentId, inviteToken } = await server.createDeployment('shop');
    const owner = (await convertInviteToken(wp, inviteToken)).token;
    const sibling = (await convertInviteToken(wp, inviteToken)).token;
    const id = ulid();
    const config = openConfig(wp, { deployment_id: deploymentId, instance_id: id, type: 'LONG_RUNNING' }, md({ token: owner }));
    await config.waitForMessages(1);
    const other = await server.connectInstance('other');
    const report = { instance_id: id, state: 'CONFIG_REFUSED' as const, message: 'forged' };

    for (const [who, token] of [
      ['another deployment', other.token],
      ['another token of the deployment', sibling],
      ['the operator', server.operatorToken],
      ['an invite', inviteToken],
    ]) {
      const err = await rpcError(reportStatus(status, report, md({ token })));
      expect(err.code, who).toBe(grpc.status.PERMISSION_DENIED);
    }
    expect((await rpcError(reportStatus(status, report, md()))).code).toBe(grpc.status.UNAUTHENTICATED);
    expect((await server.instances('shop'))[0].state).toBe('');

    // Unset or unknown states are refused (9 written by hand: protobufjs would encode it as 0);
    // an instance not live cannot be reported.
    const unset = await rpcError(reportStatus(status, { ...report, state: 'INSTANCE_STATE_UNSPECIFIED' }, md({ token: owner })));
    expect(unset.code).toBe(grpc.status.INVALID_ARGUMENT);
    const unknown = await rpcError(rawReport(status, Buffer.concat([Buffer.from([0x0a, id.length]), Buffer.from(id), Buffer.from([0x10, 9])]), owner));
    expect(unknown.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(unknown.details).toContain('unknown instance state "9"');
    const gone = await rpcError(reportStatus(status, { ...report, instance_id: ulid() }, md({ token: owner })));
    expect(gone.code).toBe(grpc.status.FAILED_PRECONDITION);

    // The owner's report is kept, its message bounded to 1 KiB.
    await reportStatus(status, { ...report, message: `bad\x1b]0;x\x07${'é'.repeat(2000)}` }, md({ token: owner }));
    const [shown] = await server.instances('shop');
    expect(shown.state).toBe('CONFIG_REFUSED');
    expect(Buffer.byteLength(shown.state_message)).toBeLessThanOrEqual(1024);
    expect(shown.state_message.endsWith('…')).toBe(true);
    // Escaped in the table as every other text from elsewhere.
    const table = (await server.ctl(['instances'])).stdout.toString();
    expect(table).toContain('bad\\e]0;x\\x07éé');
    expect(table).not.toContain('\x1b');

    // Forgotten with the instance's stream.
    config.cancel();
    await waitFor(async () => (await server.instances('shop')).length === 0, { what: () => 'the instance to go' });
    const after = openConfig(wp, { deployment_id: deploymentId, instance_id: id, type: 'LONG_RUNNING' }, md({ token: owner }));
    await after.waitForMessages(1);
    expect((await server.instances('shop'))[0].state).toBe('');
    after.cancel();
  });
});
