// The console's live parts with the real server, a real entrypoint (the bundle) and its app:
// logs history and its event stream (a line the app writes arrives; Last-Event-ID resumes with
// the next lines only), the instances stream (an entrypoint that connects appears, then turns
// disconnected and gone when it stops), and the exec WebSocket with and without a terminal.
import { afterEach, describe, expect, it } from 'vitest';
import {
  api,
  closeEventReaders,
  closeExecSockets,
  openEvents,
  openExec,
  removeConsoleFixtures,
  signIn,
  startConsoleServer,
} from '../../../helpers/console.js';
import { cleanEnv, killAll, type Running, start, waitFor } from '../../../helpers/run.js';
import type { TestServer } from '../../../helpers/server.js';
import { stopServers } from '../../../helpers/server.js';

afterEach(async () => {
  closeEventReaders();
  closeExecSockets();
  killAll();
  await stopServers();
  removeConsoleFixtures();
});

/** Writes `tick N` every 50 ms, N from 1. */
const TICKER = 'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.05; done';

async function launch(server: TestServer, app: string, script: string, env: NodeJS.ProcessEnv = {}): Promise<{ ep: Running; deploymentId: string }> {
  const { deploymentId, inviteToken } = await server.createDeployment(app);
  const ep = start(['sh', '-c', script], {
    env: cleanEnv({ ...env, WAYPOINT_SERVER_ADDR: server.addr, WAYPOINT_DEPLOYMENT_ID: deploymentId, WAYPOINT_CEB_INVITE_TOKEN: inviteToken, WAYPOINT_CEB_STOP_TIMEOUT: '2s' }),
  });
  await waitFor(async () => (await server.instances(app)).length === 1, { what: () => `an instance of ${app}; stderr: ${ep.stderr().toString().slice(-500)}` });
  return { ep, deploymentId };
}

const lineOf = (e: { data: { line: string } }) => Number(/^tick (\d+)$/.exec(e.data.line)?.[1] ?? NaN);

describe('console logs', () => {
  it('gives the history as JSON lines with cursors and filters, and streams new lines that resume after Last-Event-ID', async () => {
    const server = await startConsoleServer();
    const { deploymentId } = await launch(server, 'web', TICKER);
    const token = server.operatorToken;

    const live = await openEvents(server, '/api/v1/logs/stream?app=web&source=app', { token });
    expect(live.status).toBe(200);
    const first = await live.waitFor((e) => e.event === 'line' && /^tick \d+$/.test(e.data.line), 5);
    expect(first[0].data).toMatchObject({ app: 'web', deploymentId, source: 'app', stream: null });
    expect(first[0].id).toBe(first[0].data.id);
    expect(Math.abs(first[0].data.timestamp - Date.now())).toBeLessThan(10_000);

    const history = await api(server, 'GET', `/api/v1/logs?app=web&deployment=${deploymentId}&source=app`, { token });
    expect(history.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const lines = history.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; line: string; instanceId: string });
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.slice(0, 5).map((l) => l.line)).toEqual(['tick 1', 'tick 2', 'tick 3', 'tick 4', 'tick 5']);
    const limited = await api(server, 'GET', '/api/v1/logs?app=web&source=app&limit=2', { token });
    expect(limited.text.trimEnd().split('\n')).toHaveLength(2);
    expect((await api(server, 'GET', '/api/v1/logs?app=nope', { token })).status).toBe(404);
    expect((await api(server, 'GET', '/api/v1/logs?instance=01NOPE', { token })).status).toBe(404);
    expect((await api(server, 'GET', '/api/v1/logs?source=both', { token })).status).toBe(400);
    expect((await api(server, 'GET', '/api/v1/logs?deployment=01AAAAAAAAAAAAAAAAAAAAAAAA', { token })).text).toBe('');

    // Resume after the third line the stream gave: the fourth comes first, nothing before it.
    const third = first[2];
    const resumed = await openEvents(server, '/api/v1/logs/stream?app=web&source=app', { token, headers: { 'Last-Event-ID': third.id! } });
    const next = (await resumed.waitFor((e) => e.event === 'line', 3)).slice(0, 3);
    expect(next.map(lineOf)).toEqual([lineOf(third) + 1, lineOf(third) + 2, lineOf(third) + 3]);
    // The same with ?after= (what a page can give before EventSource has an id of its own).
    const after = await openEvents(server, `/api/v1/logs/stream?app=web&source=app&after=${encodeURIComponent(lines[1].id)}`, { token });
    expect((await after.waitFor((e) => e.event === 'line', 1))[0].data.line).toBe('tick 3');
    expect((await openEvents(server, '/api/v1/logs/stream', { token, headers: { 'Last-Event-ID': 'garbage' } })).status).toBe(400);
  });
});

describe('console instances stream', () => {
  it('shows an entrypoint that connects, then disconnected and gone after it stops', async () => {
    const server = await startConsoleServer();
    const s = await signIn(server);
    const events = await openEvents(server, '/api/v1/instances/stream', { cookie: s.cookie });
    expect(events.status).toBe(200);
    const { ep, deploymentId } = await launch(server, 'web', TICKER);
    const [connected] = await events.waitFor((e) => e.event === 'instance' && e.data.state === 'connected');
    expect(connected.data).toMatchObject({ app: 'web', deploymentId, execEnabled: true });
    expect(connected.data.connectedAt).toBeGreaterThan(Date.now() - 60_000);
    // Line counts and the URL (once its tunnel registers) follow within a second or so.
    const [later] = await events.waitFor((e) => e.event === 'instance' && e.data.id === connected.data.id && e.data.logLines > 0 && e.data.url !== null);
    expect(later.data.url).toBe(`http://web--${deploymentId.toLowerCase()}.localhost:${server.httpPort}/`);
    const listed = await api(server, 'GET', '/api/v1/instances?app=web', { cookie: s.cookie });
    expect(listed.json.instances).toHaveLength(1);
    const apps = await api(server, 'GET', '/api/v1/apps', { cookie: s.cookie });
    expect(apps.json.apps).toEqual([{ name: 'web', deployments: 1, instances: 1, connected: 1 }]);

    ep.proc.kill('SIGTERM');
    const [disconnected] = await events.waitFor((e) => e.event === 'instance' && e.data.id === connected.data.id && e.data.state === 'disconnected');
    expect(disconnected.data.lastSeenAt).toBeGreaterThan(connected.data.connectedAt);
    await events.waitFor((e) => e.event === 'instance' && e.data.id === connected.data.id && e.data.state === 'gone', 1, 15_000);
    const after = await api(server, 'GET', '/api/v1/apps', { cookie: s.cookie });
    expect(after.json.apps).toEqual([{ name: 'web', deployments: 1, instances: 1, connected: 0 }]);
  });
});

describe('console exec WebSocket start', () => {
  it('ends a socket that sends no start in time, saying so', async () => {
    const server = await startConsoleServer({ env: { WAYPOINT_SERVER_FIRST_MESSAGE_TIMEOUT: '300ms' } });
    const sock = await openExec(server, { token: server.operatorToken });
    expect((await sock.closed).code).toBe(1011);
    expect(sock.messages).toEqual([{ type: 'error', error: expect.stringMatching(/no start message within 300 ms/) }]);
  });
});

describe('console config', () => {
  it('a change made with the cookie restarts the app with the new value, seen through exec', async () => {
    const server = await startConsoleServer();
    const { ep } = await launch(server, 'web', 'trap "exit 0" TERM; echo "MODE=${MODE:-unset}"; while :; do sleep 0.05; done');
    await ep.waitForOutput('MODE=unset');
    const s = await signIn(server);
    const configOf = async () => (await api(server, 'GET', '/api/v1/instances?app=web', { cookie: s.cookie })).json.instances[0].config;
    let before: { restartPending: boolean; restartedAt: number } = { restartPending: true, restartedAt: 0 };
    await waitFor(async () => (before = await configOf()).restartedAt !== null, { what: () => 'the instance to report RUNNING' });
    expect(before.restartPending).toBe(false);
    const put = await api(server, 'PUT', '/api/v1/config', {
      cookie: s.cookie,
      csrf: s.csrf,
      origin: `http://localhost:${server.httpPort}`,
      body: { app: 'web', vars: [{ name: 'MODE', value: 'fast', kind: 'static' }] },
    });
    expect(put.json).toEqual({ changed: 1, instancesNotified: 1 });
    await ep.waitForOutput('MODE=fast');
    // The restart is reported: restartedAt moves on, nothing pending.
    await waitFor(async () => (await configOf()).restartedAt > before.restartedAt, { what: () => 'restartedAt to move on after the restart' });
    expect((await configOf()).restartPending).toBe(false);
    const sock = await openExec(server, { token: server.operatorToken });
    sock.send({ type: 'start', app: 'web', args: ['sh', '-c', 'echo "$MODE"'], tty: false });
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'exit'), 'exit');
    expect(sock.stdout()).toBe('fast\n');
  });
});

describe('console exec WebSocket', () => {
  it('runs a terminal: the size follows a resize, the exit code comes back, the session is in the history', async () => {
    const server = await startConsoleServer();
    await launch(server, 'web', 'while :; do sleep 1; done');
    const s = await signIn(server);
    const origin = `http://localhost:${server.httpPort}`;
    const sock = await openExec(server, { cookie: s.cookie, origin });
    sock.send({ type: 'start', app: 'web', args: ['sh'], tty: true, cols: 80, rows: 24, term: 'xterm-256color' });
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'started'), 'started');
    const started = sock.messages.find((m) => m.type === 'started')!;
    sock.input('stty size\n');
    await sock.waitFor((x) => /24 80/.test(x.stdout()), 'stty size 24 80');
    sock.send({ type: 'resize', cols: 132, rows: 43 });
    sock.input('stty size; echo "TERM=$TERM"\n');
    await sock.waitFor((x) => /43 132/.test(x.stdout()) && /TERM=xterm-256color/.test(x.stdout()), 'stty size 43 132');
    sock.input('exit 7\n');
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'exit'), 'exit');
    expect(sock.messages.find((m) => m.type === 'exit')).toEqual({ type: 'exit', code: 7 });
    expect((await sock.closed).code).toBe(1000);

    // The end is recorded as the exit goes out: on PostgreSQL it may land a moment after.
    let history = await api(server, 'GET', '/api/v1/exec-history?app=web', { cookie: s.cookie });
    await waitFor(async () => (history = await api(server, 'GET', '/api/v1/exec-history?app=web', { cookie: s.cookie })).json.sessions[0]?.state !== 'RUNNING', {
      what: () => `the session's end in the history: ${history.text}`,
    });
    expect(history.json.sessions[0]).toMatchObject({ id: started.sessionId, instanceId: started.instanceId, args: ['sh'], tty: true, state: 'EXITED', exitCode: 7 });
    expect(server.proc.stderr().toString()).toMatch(/"event":"exec.start".*"actor_kind":"operator"/);
  });

  it('runs a plain command with stdout and stderr apart and its exit code; Bearer works without Origin', async () => {
    const server = await startConsoleServer();
    await launch(server, 'web', 'while :; do sleep 1; done');
    const sock = await openExec(server, { token: server.operatorToken });
    sock.send({ type: 'start', app: 'web', args: ['sh', '-c', 'read x; echo "out $x"; echo "err $x" >&2; exit 5'], tty: false });
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'started'), 'started');
    sock.input('hello\n');
    sock.send({ type: 'eof' });
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'exit'), 'exit');
    expect([sock.stdout(), sock.stderr()]).toEqual(['out hello\n', 'err hello\n']);
    expect(sock.messages.at(-1)).toEqual({ type: 'exit', code: 5 });
    expect((await sock.closed).code).toBe(1000);
  });

  it("runs the instance's $SHELL when no command is given, else sh (none set, or one that is not there)", async () => {
    const server = await startConsoleServer();
    const idle = 'while :; do sleep 1; done';
    await launch(server, 'bashy', idle, { SHELL: '/bin/bash' });
    await launch(server, 'plain', idle);
    await launch(server, 'broken', idle, { SHELL: '/no/such/shell' });
    for (const [app, shell] of [['bashy', '/bin/bash bash'], ['plain', 'sh'], ['broken', 'sh']]) {
      const sock = await openExec(server, { token: server.operatorToken });
      sock.send({ type: 'start', app, args: [], tty: false });
      await sock.waitFor((x) => x.messages.some((m) => m.type === 'started'), `started in ${app}`);
      sock.input('echo "$0${BASH_VERSION:+ bash}"\n');
      sock.send({ type: 'eof' });
      await sock.waitFor((x) => x.messages.some((m) => m.type === 'exit'), `exit in ${app}`);
      expect([app, sock.stdout(), sock.messages.at(-1)]).toEqual([app, `${shell}\n`, { type: 'exit', code: 0 }]);
    }
  });

  it('carries bytes exactly both ways, a large output included', async () => {
    const server = await startConsoleServer();
    await launch(server, 'web', 'while :; do sleep 1; done');
    const input = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) % 256));
    const echo = await openExec(server, { token: server.operatorToken });
    echo.send({ type: 'start', app: 'web', args: ['sh', '-c', 'cat | od -An -v -tx1 | tr -d " \\n"'], tty: false });
    await echo.waitFor((x) => x.messages.some((m) => m.type === 'started'), 'started');
    for (let i = 0; i < input.length; i += 16_384) echo.ws.send(input.subarray(i, i + 16_384), { binary: true });
    echo.send({ type: 'eof' });
    await echo.waitFor((x) => x.messages.some((m) => m.type === 'exit'), 'exit');
    expect(echo.stdout()).toBe(input.toString('hex'));

    const big = await openExec(server, { token: server.operatorToken });
    big.send({ type: 'start', app: 'web', args: ['sh', '-c', 'head -c 4000000 /dev/zero | tr "\\0" a'], tty: false });
    await big.waitFor((x) => x.messages.some((m) => m.type === 'exit'), 'exit', 30_000);
    expect(big.stdout().length).toBe(4_000_000);
    expect(/^a+$/.test(big.stdout())).toBe(true);
  });

  it('refuses another origin, a cookie without Origin, no credentials, and a wrong kind of token', async () => {
    const server = await startConsoleServer();
    const inst = await server.connectInstance('web');
    const { inviteToken } = await server.createDeployment('web');
    const urlToken = inst.config.messages[0].config!.url_service!.token;
    const s = await signIn(server);
    expect((await openExec(server, { cookie: s.cookie, origin: 'http://evil.example' })).refused).toBe(403);
    expect((await openExec(server, { token: server.operatorToken, origin: 'http://evil.example' })).refused).toBe(403);
    expect((await openExec(server, { cookie: s.cookie })).refused).toBe(403);
    // Refused before the upgrade: no session ran.
    expect((await api(server, 'GET', '/api/v1/exec-history', { token: server.operatorToken })).json).toEqual({ sessions: [] });
    for (const opts of [{ origin: `http://localhost:${server.httpPort}` }, { token: inst.token }, { token: inviteToken }, { token: urlToken }]) {
      const sock = await openExec(server, opts);
      expect(sock.refused).toBeUndefined();
      const closed = await sock.closed;
      expect(closed.code).toBe(1008);
      expect(sock.messages[0].type).toBe('error');
    }
    // Not JSON, or not a start: an error message, then 1011.
    for (const first of ['hello', JSON.stringify({ type: 'resize', cols: 1, rows: 1 })]) {
      const wrong = await openExec(server, { token: server.operatorToken });
      wrong.ws.send(first);
      expect((await wrong.closed).code).toBe(1011);
      expect(wrong.messages[0]).toMatchObject({ type: 'error', error: expect.stringMatching(/first message/) });
    }
    // A start that names no instance that exists: an error message, then 1011.
    const sock = await openExec(server, { token: server.operatorToken });
    sock.send({ type: 'start', app: 'nope', args: ['true'], tty: false });
    expect((await sock.closed).code).toBe(1011);
    expect(sock.messages[0]).toMatchObject({ type: 'error', error: expect.stringMatching(/nope/) });
  });
});
