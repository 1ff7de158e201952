// Exec on the reference server: the real server and the real `waypoint-ctl exec`, with scripted
// fake entrypoints (test/helpers/fake-entrypoint.ts) on the instance side. Placement, the
// protocol between the server and an entrypoint, who may open what, how sessions end, the
// history, and bytes through the broker exactly and with backpressure.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pty from 'node-pty';
import { afterEach, describe, expect, it } from 'vitest';
import { KEEPALIVE } from '../../../../src/protocol/keepalive.js';
import { grpc } from '../../../helpers/grpc.js';
import { closeFakeEntrypoints, ExecStream, FakeEntrypoint } from '../../../helpers/fake-entrypoint.js';
import { killAll, run, start, waitFor, withDeadline } from '../../../helpers/run.js';
import { CTL, startServer, stopServers, type TestServer } from '../../../helpers/server.js';

const { status } = grpc;

afterEach(async () => {
  closeFakeEntrypoints();
  for (const term of terminals.splice(0)) {
    try {
      term.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  killAll();
  await stopServers();
});

type Result = Awaited<ReturnType<TestServer['ctl']>>;

function exec(server: TestServer, args: string[], input: Buffer | string = ''): Promise<Result> {
  return run(['exec', ...args], { bin: CTL, env: server.env(), input, timeoutMs: 20_000 });
}

function text(r: Result) {
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The id in an operator token's claims (wp1.<claims>.<mac>): what history records as "who". */
function tokenId(token: string): string {
  return (JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { id: string }).id;
}

interface HistoryJson {
  id: number;
  app: string;
  instance_id: string;
  args: string[];
  tty: boolean;
  operator_token_id: string;
  operator_address: string;
  started_at: string;
  ended_at: string | null;
  state: string;
  exit_code: number | null;
  error: string | null;
}

async function history(server: TestServer, args: string[] = []): Promise<HistoryJson[]> {
  const r = await server.ctl(['exec-history', '--json', ...args]);
  expect(r.stderr.toString()).toBe('');
  return JSON.parse(r.stdout.toString()) as HistoryJson[];
}

describe('exec through the server', () => {
  it('pipes stdin to the command and its stdout back: echo hello | exec -T -- cat', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    expect(text(await exec(server, ['--app', 'web', '-T', '--', 'cat'], 'hello\n'))).toEqual({ code: 0, stdout: 'hello\n', stderr: '' });
    expect(ep.sessions[0].args).toEqual(['cat']);
    expect(ep.sessions[0].pty?.enable).toBe(false);
    expect(ep.sessions[0].inputEof).toBe(true);
    // Without --app: the only app connected.
    expect(text(await exec(server, ['-T', '--', 'cat'], 'again\n')).stdout).toBe('again\n');
  });

  it('keeps stderr apart, returns the exit code, and turns exec errors into 127/126 with one line', async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    expect(text(await exec(server, ['--app', 'web', '--', 'stderr', 'oops']))).toEqual({ code: 0, stdout: 'out\n', stderr: 'oops\n' });
    expect(text(await exec(server, ['--app', 'web', '--', 'exit', '7']))).toEqual({ code: 7, stdout: '', stderr: '' });
    expect(text(await exec(server, ['--app', 'web', '--', 'nosuch', '-x']))).toEqual({
      code: 127,
      stdout: '',
      stderr: 'waypoint-ctl: nosuch: command not found\n',
    });
    expect(text(await exec(server, ['--app', 'web', '--', 'fail', '7', './run.sh: permission denied']))).toEqual({
      code: 126,
      stdout: '',
      stderr: 'waypoint-ctl: ./run.sh: permission denied\n',
    });
    expect(text(await exec(server, ['--app', 'web', '--', 'fail', '13', 'fork failed'])).code).toBe(1);
  });

  it('carries 10 MB of binary bytes both ways exactly', async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    const data = randomBytes(10 * 1024 * 1024);
    const r = await exec(server, ['--app', 'web', '-T', '--', 'cat'], data);
    expect(r.stderr.toString()).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(r.stdout.equals(data)).toBe(true);
  });

  it('carries 10 MB exactly from stdin a real pipe (widened, read in gulps) and a file', async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-exec-stdin-'));
    try {
      const file = path.join(dir, 'data');
      const data = randomBytes(10 * 1024 * 1024);
      writeFileSync(file, data);
      for (const script of ['cat "$0" | "$1" exec --app web -T -- cat', 'exec "$1" exec --app web -T -- cat < "$0"']) {
        const r = await run(['-c', script, file, CTL], { bin: '/bin/sh', env: server.env(), timeoutMs: 20_000 });
        expect({ script, code: r.code, stderr: r.stderr.toString(), length: r.stdout.length }).toEqual({ script, code: 0, stderr: '', length: data.length });
        expect(r.stdout.equals(data)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a slow reader of our stdout: the exit status still comes after all the output, never "ended without an exit status"', async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    // The command's output and exit reach the ctl at once; its stdout is not read for a second,
    // so the call's status arrives while its last messages (the exit among them) wait unread.
    const size = 8 * 1024 * 1024;
    const proc = spawn(CTL, ['exec', '--app', 'web', '-T', '--', 'burst', String(size), '3'], { env: server.env(), stdio: ['ignore', 'pipe', 'pipe'] });
    proc.stdout.pause();
    let stderr = '';
    proc.stderr.on('data', (c: Buffer) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => proc.once('close', resolve));
    await new Promise((resolve) => setTimeout(resolve, 1000));
    let received = 0;
    proc.stdout.on('data', (c: Buffer) => (received += c.length));
    proc.stdout.resume();
    expect(await withDeadline(exited, 20_000, 'waypoint-ctl exec to exit')).toBe(3);
    expect({ stderr, received }).toEqual({ stderr: '', received: size });
  });

  it('runs 10 sessions at once, spread over the instances', async () => {
    const server = await startServer();
    const a = await FakeEntrypoint.connect(server, 'web');
    const b = await FakeEntrypoint.connect(server, 'web', { deploymentId: a.deploymentId, token: a.token });
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => exec(server, ['--app', 'web', '-T', '--', 'cat'], `session ${i}\n`.repeat(1000))),
    );
    results.forEach((r, i) => expect(text(r)).toEqual({ code: 0, stdout: `session ${i}\n`.repeat(1000), stderr: '' }));
    expect(a.sessions.length + b.sessions.length).toBe(10);
    expect(a.sessions.length).toBeGreaterThanOrEqual(3);
    expect(b.sessions.length).toBeGreaterThanOrEqual(3);
  });
});

describe('placement', () => {
  it('never chooses an instance with exec disabled, and refuses it by name with a clear line', async () => {
    const server = await startServer();
    const enabled = await FakeEntrypoint.connect(server, 'web');
    // Newer deployment, but exec disabled: the older deployment's instance is the only choice.
    const disabled = await FakeEntrypoint.connect(server, 'web', { disableExec: true });
    for (let i = 0; i < 4; i++) expect(text(await exec(server, ['--app', 'web', '--', 'echo', `n${i}`])).stdout).toBe(`n${i}\n`);
    expect(enabled.sessions).toHaveLength(4);
    expect(disabled.seen.size).toBe(0);

    expect(text(await exec(server, ['--instance', disabled.id, '--', 'echo', 'x']))).toEqual({
      code: 1,
      stdout: '',
      stderr: `waypoint-ctl: exec is disabled on instance ${disabled.id} (it runs with WAYPOINT_CEB_DISABLE_EXEC)\n`,
    });
    expect(text(await exec(server, ['--instance', enabled.id, '--', 'echo', 'named'])).stdout).toBe('named\n');

    await FakeEntrypoint.connect(server, 'api', { disableExec: true });
    const r = text(await exec(server, ['--app', 'api', '--', 'echo', 'x']));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^waypoint-ctl: exec is disabled on the only connected instance of app api \(it runs with WAYPOINT_CEB_DISABLE_EXEC\)\n$/);
    expect(disabled.seen.size).toBe(0);
  });

  it('prefers the newest deployment of the app', async () => {
    const server = await startServer();
    const old = await FakeEntrypoint.connect(server, 'web');
    const newer = await FakeEntrypoint.connect(server, 'web');
    for (let i = 0; i < 3; i++) expect(text(await exec(server, ['--app', 'web', '--', 'exit', '0'])).code).toBe(0);
    expect(newer.sessions).toHaveLength(3);
    expect(old.sessions).toHaveLength(0);
  });

  it('says clearly when there is nowhere to run: no instance, unknown app, unknown instance', async () => {
    const server = await startServer();
    await server.createDeployment('web');
    expect(text(await exec(server, ['--app', 'web', '--', 'true']))).toEqual({
      code: 1,
      stdout: '',
      stderr: 'waypoint-ctl: app web has no connected instance\n',
    });
    expect(text(await exec(server, ['--app', 'nope', '--', 'true'])).stderr).toBe(
      'waypoint-ctl: there is no app named "nope" (waypoint-ctl deployment list shows them)\n',
    );
    expect(text(await exec(server, ['--instance', 'I-NONE', '--', 'true'])).stderr).toBe(
      'waypoint-ctl: no instance I-NONE is connected (waypoint-ctl instances lists the live ones)\n',
    );
    expect(text(await exec(server, ['--', 'true'])).stderr).toBe('waypoint-ctl: no instance is connected to the server: nothing to run the command in\n');
    expect(text(await exec(server, ['--app', 'web', '--instance', 'x', '--', 'true'])).code).toBe(2);
  });
});

describe('pending requests', () => {
  it('are listed in every config the instance gets until opened, and fail at once when it disconnects', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web', { autoOpen: false });
    const ctl = start(['exec', '--app', 'web', '-T', '--', 'echo', 'hi'], { bin: CTL, env: server.env(), input: '' });
    await ep.waitForSeen(1);
    const [index] = [...ep.seen.keys()];
    expect(ep.latestExec().map((e) => [e.index, e.args])).toEqual([[index, ['echo', 'hi']]]);
    // A config change for another reason still lists the pending request.
    const n = ep.configs.length;
    expect((await server.ctl(['config', 'set', '--app', 'web', 'A=1'])).code).toBe(0);
    await waitFor(() => ep.configs.length > n, { what: () => 'the config push' });
    expect(ep.latestExec().map((e) => e.index)).toEqual([index]);

    const t0 = Date.now();
    ep.disconnect();
    const exit = await withDeadline(ctl.exited, 5_000, 'the ctl to exit');
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(exit.code).toBe(1);
    expect(ctl.stderr().toString()).toBe(`waypoint-ctl: instance ${ep.id} disconnected before it opened the exec session\n`);
    const [h] = await history(server);
    expect(h).toMatchObject({ state: 'FAILED', error: `instance ${ep.id} disconnected before it opened the exec session` });
  });

  it('fail after the open timeout when the instance never opens them', async () => {
    const server = await startServer({ env: { WAYPOINT_SERVER_EXEC_OPEN_TIMEOUT: '300ms' } });
    const ep = await FakeEntrypoint.connect(server, 'web', { autoOpen: false });
    const r = text(await exec(server, ['--app', 'web', '--', 'true']));
    expect(r).toEqual({ code: 1, stdout: '', stderr: `waypoint-ctl: instance ${ep.id} did not open the exec session within 300ms\n` });
    // Gone from the list: an open now is refused.
    const late = ep.openRaw([...ep.seen.keys()][0]);
    expect((await late.waitForEnd())?.code).toBe(status.NOT_FOUND);
    expect(late.opened).toBe(false);
  });

  it('leave the list once opened: the next config push does not carry them', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const ctl = start(['exec', '--app', 'web', '-T', '--', 'hang'], { bin: CTL, env: server.env() });
    await ep.waitForSessions(1);
    await ep.sessions[0].stream.waitForOpened();
    const n = ep.configs.length;
    expect((await server.ctl(['config', 'set', '--app', 'web', 'B=2'])).code).toBe(0);
    await waitFor(() => ep.configs.length > n, { what: () => 'the config push' });
    expect(ep.latestExec()).toEqual([]);
    ctl.proc.kill('SIGTERM');
    expect((await withDeadline(ctl.exited, 5_000, 'the ctl to exit')).code).toBe(143);
  });
});

describe('who may open an exec session', () => {
  it("refuses another deployment's token, an index that is not pending, and a first message other than open", async () => {
    const server = await startServer();
    const a = await FakeEntrypoint.connect(server, 'web', { autoOpen: false });
    const b = await FakeEntrypoint.connect(server, 'other');
    const ctl = start(['exec', '--app', 'web', '-T', '--', 'echo', 'mine'], { bin: CTL, env: server.env(), input: '' });
    await a.waitForSeen(1);
    const [index] = [...a.seen.keys()];

    const stolen = b.openRaw(index, { instanceId: a.id });
    expect(await stolen.waitForEnd()).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(stolen.error?.details).toMatch(new RegExp(`instance ${a.id} was registered by another token`));
    expect(stolen.opened).toBe(false);

    const unknown = a.openRaw(String(Number(index) + 1000));
    expect((await unknown.waitForEnd())?.code).toBe(status.NOT_FOUND);
    const notRegistered = a.openRaw(index, { instanceId: 'NOT-REGISTERED' });
    expect((await notRegistered.waitForEnd())?.code).toBe(status.FAILED_PRECONDITION);

    const noOpen = new ExecStream(a.wp.EntrypointExecStream(grpcMd(a.token)));
    noOpen.send({ exit: { code: 0 } });
    expect((await noOpen.waitForEnd())?.code).toBe(status.INVALID_ARGUMENT);
    noOpen.call.end();

    // Still pending after all that: the right token opens it.
    const own = a.openRaw(index);
    await own.waitForOpened();
    expect(own.opened).toBe(true);
    own.send({ output: { channel: 'STDOUT', data: Buffer.from('mine\n') } });
    own.send({ exit: { code: 0 } });
    own.call.end();
    expect((await withDeadline(ctl.exited, 5_000, 'the ctl to exit')).code).toBe(0);
    expect(ctl.stdout().toString()).toBe('mine\n');
    expect(await own.waitForEnd()).toBeUndefined();
  });
});

describe('who may exec', () => {
  it('needs the operator token: an entrypoint token is denied, no token is unauthenticated', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const control = server.control();
    const attempt = (m: grpc.Metadata) =>
      new Promise<grpc.ServiceError>((resolve) => {
        const call = control.Exec(m);
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ start: { app: 'web', args: ['echo', 'x'] } });
      });
    expect((await attempt(grpcMd(ep.token))).code).toBe(status.PERMISSION_DENIED);
    expect((await attempt(new grpc.Metadata())).code).toBe(status.UNAUTHENTICATED);
    const list = await new Promise<grpc.ServiceError | null>((resolve) => control.ListExecSessions({}, grpcMd(ep.token), (err) => resolve(err)));
    expect(list?.code).toBe(status.PERMISSION_DENIED);
    expect(ep.seen.size).toBe(0);
  });

  it('holds input sent right after start until the instance has opened the session', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const call = server.control().Exec(server.operator());
    const events: string[] = [];
    call.on('data', (m: { event: string; output?: { data: Buffer }; exit_code?: number; started?: { instance_id: string } }) =>
      events.push(m.event === 'output' ? `output ${m.output!.data.toString()}` : m.event === 'started' ? `started ${m.started!.instance_id}` : `${m.event} ${m.exit_code}`),
    );
    const done = new Promise<void>((resolve) => call.on('status', () => resolve()));
    call.write({ start: { app: 'web', args: ['cat'] } });
    call.write({ input: Buffer.from('early ') });
    call.write({ input: Buffer.from('bytes') });
    call.write({ input_eof: {} });
    await withDeadline(done, 10_000, 'the exec call to end');
    expect(events).toEqual([`started ${ep.id}`, 'output early ', 'output bytes', 'exit_code 0']);
  });

  it('ends an Exec that sends no start, and an EntrypointExecStream that sends only keepalives, with DEADLINE_EXCEEDED in time', async () => {
    const server = await startServer({ env: { WAYPOINT_SERVER_FIRST_MESSAGE_TIMEOUT: '300ms' } });
    const ep = await FakeEntrypoint.connect(server, 'web', { autoOpen: false });
    const began = Date.now();
    const silent = new Promise<grpc.ServiceError>((resolve) => {
      const call = server.control().Exec(server.operator());
      call.on('data', () => undefined);
      call.on('error', resolve);
    });
    const idle = new ExecStream(ep.wp.EntrypointExecStream(grpcMd(ep.token)));
    idle.send(KEEPALIVE as never);
    expect(await withDeadline(silent, 5_000, 'the silent Exec call to end')).toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: 'the Exec call sent no start message within 300 ms',
    });
    expect(await idle.waitForEnd(5_000)).toMatchObject({
      code: status.DEADLINE_EXCEEDED,
      details: 'the EntrypointExecStream call sent no open message within 300 ms',
    });
    expect(Date.now() - began).toBeGreaterThanOrEqual(300);
    idle.call.end();
    expect(ep.seen.size).toBe(0);
  });

  it('checks the start request: args needed, an app or an instance but not both', async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    const control = server.control();
    const attempt = (start: Record<string, unknown>) =>
      new Promise<grpc.ServiceError>((resolve) => {
        const call = control.Exec(server.operator());
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ start });
      });
    expect(await attempt({ app: 'web', args: [] })).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'exec needs a command: give its args' });
    expect((await attempt({ app: 'web', instance_id: 'x', args: ['true'] })).code).toBe(status.INVALID_ARGUMENT);
    expect((await attempt({ args: ['true'] })).code).toBe(status.INVALID_ARGUMENT);
  });
});

function grpcMd(token: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', token);
  return m;
}

describe('how sessions end', () => {
  it('ends the entrypoint stream with an error when the operator goes away, and records it', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const ctl = start(['exec', '--app', 'web', '-T', '--', 'hang'], { bin: CTL, env: server.env() });
    await ep.waitForSessions(1);
    await ep.sessions[0].stream.waitForOpened();
    ctl.proc.kill('SIGKILL');
    const err = await ep.sessions[0].stream.waitForEnd();
    expect(err?.code).toBe(status.CANCELLED);
    await waitFor(async () => (await history(server))[0].state === 'FAILED', { what: () => 'the session recorded as failed' });
    expect((await history(server))[0]).toMatchObject({ state: 'FAILED', error: 'operator went away', exit_code: null });
  });

  it('ends the session with 141 (SIGPIPE) when the reader of our stdout goes away', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const script = `head -c 50000000 /dev/zero | "${CTL}" exec --app web -T -- cat | head -c 10 | wc -c; echo "status \${PIPESTATUS[1]}"`;
    const r = await run(['-c', script], { bin: '/bin/bash', env: server.env(), timeoutMs: 20_000 });
    expect(r.stderr.toString()).toBe('');
    expect(r.stdout.toString()).toBe('10\nstatus 141\n');
    expect((await ep.sessions[0].stream.waitForEnd())?.code).toBe(status.CANCELLED);
  });

  it('tells the operator when the instance loses the session, and ends sessions at server shutdown', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const ctl = start(['exec', '--app', 'web', '-T', '--', 'hang'], { bin: CTL, env: server.env() });
    await ep.waitForSessions(1);
    await ep.sessions[0].stream.waitForOpened();
    ep.sessions[0].stream.call.cancel();
    expect((await withDeadline(ctl.exited, 5_000, 'the ctl to exit')).code).toBe(1);
    expect(ctl.stderr().toString()).toMatch(new RegExp(`^waypoint-ctl: instance ${ep.id} lost the exec session: .+\\n$`));

    const ctl2 = start(['exec', '--app', 'web', '-T', '--', 'hang'], { bin: CTL, env: server.env() });
    await ep.waitForSessions(2);
    await ep.sessions[1].stream.waitForOpened();
    await server.stop();
    expect((await withDeadline(ctl2.exited, 5_000, 'the ctl to exit')).code).toBe(1);
    expect(ctl2.stderr().toString()).toBe('waypoint-ctl: the session ended: the server is shutting down\n');
    expect((await ep.sessions[1].stream.waitForEnd())?.code).toBe(status.UNAVAILABLE);
  });

  it('sends inline keepalives on an idle session to an entrypoint that asked for them', async () => {
    const server = await startServer({ keepaliveMs: 50 });
    const ep = await FakeEntrypoint.connect(server, 'web', { inlineKeepalives: true });
    start(['exec', '--app', 'web', '-T', '--', 'hang'], { bin: CTL, env: server.env() });
    await ep.waitForSessions(1);
    await waitFor(() => ep.sessions[0].stream.keepalives >= 3, { what: () => 'three keepalives' });
    expect(ep.sessions[0].stream.ended).toBe(false);
  });

  it('marks sessions a crash left running as failed at the next start', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    start(['exec', '--app', 'web', '-T', '--', 'hang'], { bin: CTL, env: server.env() });
    await ep.waitForSessions(1);
    await ep.sessions[0].stream.waitForOpened();
    expect((await history(server))[0].state).toBe('RUNNING');
    await server.restart({ signal: 'SIGKILL' });
    expect((await history(server))[0]).toMatchObject({ state: 'FAILED', error: 'server restarted' });
  });
});

describe('exec-history', () => {
  it('lists sessions newest first with exit codes, who and from where; filters and limits', async () => {
    const server = await startServer();
    const web = await FakeEntrypoint.connect(server, 'web');
    await FakeEntrypoint.connect(server, 'api');
    await exec(server, ['--app', 'web', '--', 'exit', '7']);
    await exec(server, ['--app', 'api', '--', 'echo', 'x y']);
    await exec(server, ['--app', 'web', '--', 'nosuch']);
    const all = await history(server);
    expect(all.map((h) => [h.app, h.args, h.state, h.exit_code])).toEqual([
      ['web', ['nosuch'], 'FAILED', 127],
      ['api', ['echo', 'x y'], 'EXITED', 0],
      ['web', ['exit', '7'], 'EXITED', 7],
    ]);
    expect(all[0].error).toBe('nosuch: command not found');
    expect(all[0].id).toBeGreaterThan(all[1].id);
    for (const h of all) {
      expect(h.operator_token_id).toBe(tokenId(server.operatorToken));
      expect(h.operator_address).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(h.tty).toBe(false);
      expect(Date.parse(h.ended_at!)).toBeGreaterThanOrEqual(Date.parse(h.started_at));
    }
    expect((await history(server, ['--app', 'web'])).map((h) => h.args[0])).toEqual(['nosuch', 'exit']);
    expect((await history(server, ['--instance', web.id, '--limit', '1'])).map((h) => h.args[0])).toEqual(['nosuch']);

    const table = (await server.ctl(['exec-history'])).stdout.toString().split('\n');
    expect(table[0]).toMatch(/^ID\s+STARTED\s+DURATION\s+INSTANCE\s+APP\s+TTY\s+STATE\/EXIT\s+WHO\s+COMMAND$/);
    expect(table[1]).toMatch(/failed: nosuch: command not found/);
    expect(table[2]).toMatch(/exited 0 .*echo 'x y'$/);
    expect(table[3]).toMatch(new RegExp(`exited 7\\s+${tokenId(server.operatorToken)}@127\\.0\\.0\\.1\\s+exit 7$`));
  });
});

const terminals: pty.IPty[] = [];

describe('exec on a terminal', () => {
  it('asks for a pty with our TERM and size, forwards resizes, is raw, and closes on ~.', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const term = pty.spawn(CTL, ['exec', '--app', 'web', '--', 'pty'], {
      name: 'xterm-test',
      cols: 91,
      rows: 27,
      env: server.env({ TERM: 'xterm-test' }) as Record<string, string>,
    });
    terminals.push(term);
    let out = '';
    term.onData((d) => (out += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    const see = (t: string) => waitFor(() => out.includes(t), { what: () => `${JSON.stringify(t)} on the terminal; got ${JSON.stringify(out)}` });

    await see('"tty":true');
    expect(out).toContain('"term":"xterm-test"');
    expect(out).toContain('"rows":27,"cols":91');
    // Output untouched by our terminal: the fake's bare "\n" is not made "\r\n" (no OPOST).
    expect(out).toMatch(/\}\n/);
    expect(out).not.toContain('}\r\n');
    term.resize(120, 40);
    await see('winch 40x120');
    // Raw: a Ctrl-C is a byte for the remote side, not a signal for us; ~~ sends one ~.
    term.write('ab\x03\r~~x\r');
    await waitFor(() => Buffer.concat(ep.sessions[0].input).toString() === 'ab\x03\r~x\r', {
      what: () => `the keys at the instance; got ${JSON.stringify(Buffer.concat(ep.sessions[0].input).toString())}`,
    });
    term.write('~.');
    expect(await withDeadline(exited, 5_000, 'the ctl to exit')).toBe(255);
    expect((await ep.sessions[0].stream.waitForEnd())?.code).toBe(status.CANCELLED);
  });

  it('asks for a pty with -t even without a terminal, with the TERM of --term', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const r = text(await exec(server, ['--app', 'web', '-t', '--term', 'vt100', '--', 'echo', 'x']));
    expect(r.code).toBe(0);
    expect(ep.sessions[0].pty).toMatchObject({ enable: true, term: 'vt100' });
  });
});
