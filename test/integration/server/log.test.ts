// The server's own log (pino): JSON lines when its stderr is not a terminal, the operator audit
// trail of what was done through the real `waypoint-ctl`, the RPC records at debug, and no
// secret in any line even at trace. The instance side is a fake entrypoint that exchanges the
// invite `deployment create` printed.
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFakeEntrypoints, FakeEntrypoint } from '../../helpers/fake-entrypoint.js';
import { convertInviteToken, waypointClient } from '../../helpers/grpc.js';
import { killAll, waitFor } from '../../helpers/run.js';
import { type LogRecord, logRecords, startServer, stopServers, type TestServer } from '../../helpers/server.js';

interface Scenario {
  server: TestServer;
  operatorId: string;
  inviteId: string;
  invite: string;
  entrypointToken: string;
  entrypointTokenId: string;
  internalValue: string;
  ep: FakeEntrypoint;
}

/** The id in a token's claims (wp1.<claims>.<mac>). */
const idOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { id: string }).id;

async function ok(server: TestServer, args: string[]): Promise<string> {
  const r = await server.ctl(args);
  expect(r.code, `${args.join(' ')}: ${r.stderr.toString()}`).toBe(0);
  return r.stdout.toString();
}

/** Every operator action through the ctl, against a server logging at trace. */
async function operate(): Promise<Scenario> {
  const server = await startServer({ args: ['--log-level', 'trace'] });
  const internalValue = `hunter2-${randomBytes(8).toString('hex')}`;
  await ok(server, ['config', 'set', '--app', 'web', '--internal', `DB_PASS=${internalValue}`, 'MODE=prod']);
  await ok(server, ['config', 'unset', '--app', 'web', 'MODE']);
  const created = Object.fromEntries(
    (await ok(server, ['deployment', 'create', 'web'])).trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const invite = created.WAYPOINT_CEB_INVITE_TOKEN;
  const wp = waypointClient(server.addr);
  const entrypointToken = (await convertInviteToken(wp, invite)).token;
  wp.close();
  const ep = await FakeEntrypoint.connect(server, 'web', { deploymentId: created.WAYPOINT_DEPLOYMENT_ID, token: entrypointToken });
  expect((await server.ctl(['exec', '--app', 'web', '--', 'exit', '7'])).code).toBe(7);
  await ok(server, ['token', 'revoke', idOf(entrypointToken)]);
  await waitFor(() => ep.configEnded, { what: () => 'the revoked instance dropped' });
  // One request to the URL ingress, for an app that serves nothing: a 404 with a query string.
  const [host, port] = server.httpAddr!.split(':');
  await new Promise<void>((resolve, reject) => {
    http
      .get({ host, port: Number(port), path: `/some/path?key=${internalValue}`, headers: { Host: 'nosuch.localhost' }, agent: false }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
  return {
    server,
    operatorId: idOf(server.operatorToken),
    inviteId: idOf(invite),
    invite,
    entrypointToken,
    entrypointTokenId: idOf(entrypointToken),
    internalValue,
    ep,
  };
}

describe('the server log off a terminal', () => {
  let s: Scenario;
  let log: LogRecord[];
  const events = (event: string) => log.filter((r) => r.event === event);

  beforeAll(async () => {
    s = await operate();
    await s.server.stop();
    log = logRecords(s.server.proc.stderr());
  }, 60_000);

  afterAll(async () => {
    closeFakeEntrypoints();
    killAll();
    await stopServers();
  });

  it('is pino JSON lines: level numbers, time in ms, name, msg', () => {
    expect(log.length).toBeGreaterThan(10);
    for (const r of log) {
      expect([10, 20, 30, 40, 50, 60]).toContain(r.level);
      expect(r.time).toBeGreaterThan(Date.now() - 120_000);
      expect(r).toMatchObject({ name: 'waypoint-ctl', msg: expect.any(String) });
    }
    expect(log.at(-1)).toMatchObject({ level: 30, msg: 'stopping' });
  });

  it('records each operator action once, with who (token id and kind), what, which app and from where', () => {
    const operator = { level: 30, actor_token: s.operatorId, actor_kind: 'operator', peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/) };
    expect(events('config.set')).toEqual([
      expect.objectContaining({ ...operator, scope: 'web', app: 'web', names: ['DB_PASS', 'MODE'], kinds: ['internal', 'internal'] }),
    ]);
    expect(events('config.unset')).toEqual([expect.objectContaining({ ...operator, app: 'web', names: ['MODE'] })]);
    const deployment = s.ep.deploymentId;
    expect(events('deployment.create')).toEqual([expect.objectContaining({ ...operator, app: 'web', deployment, invite_id: s.inviteId })]);
    expect(events('token.exchange')).toEqual([
      expect.objectContaining({ level: 30, actor_token: s.inviteId, actor_kind: 'invite', deployment, token_id: s.entrypointTokenId, peer: operator.peer }),
    ]);
    expect(events('instance.register')).toEqual([
      expect.objectContaining({ instance: s.ep.id, app: 'web', deployment, actor_token: s.entrypointTokenId, actor_kind: 'entrypoint' }),
    ]);
    const [start] = events('exec.start');
    expect(events('exec.start')).toEqual([
      expect.objectContaining({ ...operator, app: 'web', deployment, instance: s.ep.id, args: ['exit', '7'], tty: false, session: expect.any(Number) }),
    ]);
    expect(events('exec.end')).toEqual([
      expect.objectContaining({ ...operator, peer: start.peer, session: start.session, instance: s.ep.id, state: 'EXITED', exit_code: 7, duration_ms: expect.any(Number) }),
    ]);
    expect(events('token.revoke')).toEqual([
      expect.objectContaining({ ...operator, token_id: s.entrypointTokenId, token_kind: 'entrypoint', deployment, revoked_ids: [s.entrypointTokenId], instances_dropped: 1 }),
    ]);
  });

  it('records every RPC at debug with its status, duration and caller', () => {
    const rpcs = events('rpc');
    for (const r of rpcs) expect(r).toMatchObject({ level: 20, code: expect.any(String), duration_ms: expect.any(Number), peer: expect.any(String) });
    const byName = (rpc: string) => rpcs.filter((r) => r.rpc === rpc);
    expect(byName('SetConfig')).toHaveLength(2);
    expect(byName('SetConfig')[0]).toMatchObject({ service: 'waypoint_entrypoint.control.v1.Control', code: 'OK', actor_token: s.operatorId, actor_kind: 'operator' });
    expect(byName('ConvertInviteToken')).toEqual([expect.objectContaining({ code: 'OK', service: 'hashicorp.waypoint.Waypoint' })]);
    // The stream of the revoked instance ends with its status, by its own token.
    expect(byName('EntrypointConfig')).toEqual([expect.objectContaining({ actor_token: s.entrypointTokenId, actor_kind: 'entrypoint' })]);
    expect(byName('Exec')).toEqual([expect.objectContaining({ code: 'OK', actor_kind: 'operator' })]);
  });

  it('records every HTTP request to the ingress at debug: method, host, path without its query, status, duration, peer', () => {
    expect(events('http')).toEqual([
      expect.objectContaining({
        level: 20,
        method: 'GET',
        host: 'nosuch.localhost',
        path: '/some/path',
        status: 404,
        complete: true,
        duration_ms: expect.any(Number),
        peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      }),
    ]);
  });

  it('holds no secret at trace: not the operator token, the invite, the entrypoint token or the internal value', () => {
    const text = s.server.proc.stderr().toString();
    for (const secret of [s.server.operatorToken, s.invite, s.entrypointToken, s.internalValue]) expect(text).not.toContain(secret);
    // Nor their MACs alone, in case a token were cut at its claims.
    for (const token of [s.server.operatorToken, s.invite, s.entrypointToken]) expect(text).not.toContain(token.split('.')[2]);
  });
});

describe('the log format', () => {
  afterAll(async () => {
    killAll();
    await stopServers();
  });

  it('--log-format pretty gives pino-pretty lines off a terminal too', async () => {
    const server = await startServer({ args: ['--log-format', 'pretty'] });
    await ok(server, ['config', 'set', '--app', 'web', 'A=1']);
    await server.stop();
    const text = server.proc.stderr().toString();
    expect(text).toMatch(/^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} [+-]\d{4}\] INFO \(waypoint-ctl\): config set\n {4}event: "config.set"\n/m);
    expect(text).toMatch(/INFO \(waypoint-ctl\): stopping\n$/);
  });

  it('refuses an unknown --log-format with one line that says what to do, exit 2', async () => {
    const server = await startServer();
    const r = await server.ctl(['server', 'run', '--log-format', 'xml', '--listen', '127.0.0.1:0']);
    expect(r.code).toBe(2);
    expect(r.stderr.toString()).toMatch(/^waypoint-ctl: --log-format must be json or pretty, got "xml"\n/);
  });
});
