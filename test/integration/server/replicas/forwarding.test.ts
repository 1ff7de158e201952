// Requests that reach one replica for an instance connected to another are forwarded there: two
// `server run` replicas on one PostgreSQL database, a real entrypoint (the bundle) with a real app
// on each or on B only, and the operator talking to A alone. Exec (pipes and a terminal, exit
// codes, stdin's end, a ctl that goes away), `logs` and `logs -f`, and URL requests (HTTP and a
// WebSocket) through A's ingress. PostgreSQL run only (vitest.postgres.config.ts); the SQLite
// run skips them.
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { REPLICAS, startReplicas, TEST_REPLICA_TIMEOUT } from '../../../helpers/replicas.js';
import { cleanEnv, FIXTURES, isAlive, killAll, run, type Running, start, waitFor, withDeadline } from '../../../helpers/run.js';
import { CTL, freePort, logRecords, startServer, stopServers, type TestServer } from '../../../helpers/server.js';
import { closeTerminals, openTerminal } from '../../../helpers/terminal.js';
import { api, closeEventReaders, closeExecSockets, consoleFixture, openEvents, openExec, removeConsoleFixtures } from '../../../helpers/console.js';

const APP = path.join(FIXTURES, 'replica-app.mjs');

afterEach(async () => {
  closeTerminals();
  closeExecSockets();
  closeEventReaders();
  killAll();
  await stopServers();
  removeConsoleFixtures();
});

interface Launched {
  entrypoint: Running;
  appPid: number;
}

/** The app under the real entrypoint, an instance of `app` connected to `server`. */
async function launch(server: TestServer, deployment: { deploymentId: string; inviteToken: string }, addrs = server.addr): Promise<Launched> {
  const entrypoint = start(['node', APP], {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: addrs,
      WAYPOINT_DEPLOYMENT_ID: deployment.deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: deployment.inviteToken,
      WAYPOINT_CEB_STOP_TIMEOUT: '2s',
      PORT: String(await freePort()),
    }),
  });
  await entrypoint.waitForOutput(/listening \d+/);
  return { entrypoint, appPid: Number(/listening (\d+)/.exec(entrypoint.stdout().toString())![1]) };
}

/** Two replicas, the app's one instance connected to B; A lists it (its row is written). */
async function appOnB(app = 'web', args: string[] = []): Promise<{ a: TestServer; b: TestServer; onB: Launched; instanceId: string }> {
  const [a, b] = await startReplicas(2, { args });
  const onB = await launch(b, await a.createDeployment(app));
  let instanceId = '';
  await waitFor(
    async () => {
      const listed = await a.instances(app);
      instanceId = listed.find((i) => i.replica_address === b.addr)?.id ?? '';
      return instanceId !== '';
    },
    { what: () => `A to list the instance connected to B` },
  );
  return { a, b, onB, instanceId };
}

type Result = Awaited<ReturnType<typeof run>>;
const exec = (server: TestServer, args: string[], input = ''): Promise<Result> => run(['exec', ...args], { bin: CTL, env: server.env(), input, timeoutMs: 20_000 });

async function replicaIds(server: TestServer): Promise<Map<string, string>> {
  const r = await server.ctl(['server', 'replicas', '--json']);
  const { replicas } = JSON.parse(r.stdout.toString()) as { replicas: Array<{ id: string; grpc_address: string }> };
  return new Map(replicas.map((x) => [x.grpc_address, x.id]));
}

describe.skipIf(!REPLICAS)('exec through one replica into an instance connected to another', () => {
  it('pipes: stdin, stdout and stderr apart, the exit code, by instance and by app; the history and audit name the operator', async () => {
    const { a, b, onB, instanceId } = await appOnB();
    const piped = await exec(a, ['--instance', instanceId, '-T', '--', 'sh', '-c', 'cat; echo "ppid=$PPID" >&2; exit 7'], 'through A\n');
    expect(piped.stdout.toString()).toBe('through A\n');
    // The command ran beside B's app: under B's entrypoint.
    expect(piped.stderr.toString()).toBe(`ppid=${onB.entrypoint.pid}\n`);
    expect(piped.code).toBe(7);
    // By app: its only instance is on B.
    const byApp = await exec(a, ['--app', 'web', '--', 'sh', '-c', 'echo on-b; exit 3']);
    expect([byApp.code, byApp.stdout.toString(), byApp.stderr.toString()]).toEqual([3, 'on-b\n', '']);

    // One record per session in the shared history, as the operator's, not a replica's.
    const history = JSON.parse((await a.ctl(['exec-history', '--json'])).stdout.toString()) as Array<{ instance_id: string; state: string; exit_code: number; operator_token_id: string }>;
    const operatorId = (JSON.parse(Buffer.from(a.operatorToken.split('.')[1], 'base64url').toString()) as { id: string }).id;
    expect(history.map((h) => [h.instance_id, h.state, h.exit_code, h.operator_token_id])).toEqual([
      [instanceId, 'EXITED', 3, operatorId],
      [instanceId, 'EXITED', 7, operatorId],
    ]);
    const ids = await replicaIds(a);
    const forwarded = logRecords(a.proc.stderr()).filter((r) => r.event === 'exec.forward');
    expect(forwarded.map((r) => [r.instance, r.replica])).toEqual([
      [instanceId, ids.get(b.addr)],
      [instanceId, ids.get(b.addr)],
    ]);
    const started = logRecords(b.proc.stderr()).filter((r) => r.event === 'exec.start');
    expect(started.map((r) => [r.instance, r.forwarded_by, r.actor_token])).toEqual([
      [instanceId, ids.get(a.addr), operatorId],
      [instanceId, ids.get(a.addr), operatorId],
    ]);
    // A's own record of the caller is the ctl's address, not A's address as B saw it.
    expect(started.every((r) => typeof r.peer === 'string' && r.peer !== '')).toBe(true);
  });

  it('a terminal: the pty has the size and TERM asked, follows a resize, and the exit code comes back', async () => {
    const { a } = await appOnB();
    const t = openTerminal(CTL, ['exec', '--app', 'web', '--', 'sh', '-i'], { cols: 91, rows: 27, term: 'vt100', env: a.env() });
    t.term.write("PS1='PRO''MPT> '\r");
    await t.waitFor('PROMPT> ');
    t.term.write('tty; echo "term=$TERM"; stty size\r');
    await t.waitFor(/\/dev\/pts\/\d+/);
    await t.waitFor('term=vt100');
    await t.waitFor('27 91');
    t.term.resize(120, 40);
    await waitFor(
      async () => {
        t.term.write('stty size\r');
        await new Promise((r) => setTimeout(r, 100));
        return t.output().includes('40 120');
      },
      { what: () => `the new size; got ${JSON.stringify(t.output().slice(-300))}` },
    );
    t.term.write('exit 4\r');
    expect(await withDeadline(t.exited, 10_000, 'the ctl to exit')).toBe(4);
  });

  it('a ctl that goes away ends the command on the other replica', async () => {
    const { a, onB } = await appOnB();
    const ctl = start(['exec', '--app', 'web', '-T', '--', 'sh', '-c', 'echo "pid=$$"; exec sleep 100'], { bin: CTL, env: a.env() });
    await ctl.waitForOutput(/pid=\d+/);
    const pid = Number(/pid=(\d+)/.exec(ctl.stdout().toString())![1]);
    expect(isAlive(pid)).toBe(true);
    ctl.proc.kill('SIGKILL');
    await waitFor(() => !isAlive(pid), { what: () => `the command (pid ${pid}) on B to end` });
    expect(isAlive(onB.appPid)).toBe(true);
  });

  it('a replica that dies mid-session: the operator is told in one line; its instance is then refused with one line', async () => {
    const { a, b, instanceId } = await appOnB();
    const ctl = start(['exec', '--instance', instanceId, '-T', '--', 'sh', '-c', 'echo started; exec sleep 100'], { bin: CTL, env: a.env() });
    await ctl.waitForOutput('started');
    await b.stop({ signal: 'SIGKILL' });
    const exit = await withDeadline(ctl.exited, 10_000, 'the ctl to exit');
    expect(exit.code).toBe(1);
    expect(ctl.stderr().toString()).toMatch(new RegExp(`^waypoint-ctl: the session ended: replica ${b.addr}, where instance ${instanceId} is connected, lost it: .+\n$`));
    // Once A takes B as gone (--replica-timeout), the instance's replica is named, not "no instance".
    let refused: Result | undefined;
    await waitFor(
      async () => {
        refused = await exec(a, ['--instance', instanceId, '--', 'true']);
        return /stopped answering/.test(refused.stderr.toString());
      },
      { what: () => `the refusal naming B: ${refused?.stderr.toString()}` },
    );
    expect(refused!.code).not.toBe(0);
    expect(refused!.stderr.toString()).toBe(
      `waypoint-ctl: instance ${instanceId} is connected to replica ${b.addr}, which stopped answering: retry once the instance has reconnected to another replica\n`,
    );
  });
});

describe.skipIf(!REPLICAS)('logs through one replica', () => {
  it('show every replica\'s instances: the kept lines merged in time order, then -f follows them all', async () => {
    const [a, b] = await startReplicas(2);
    const deployment = await a.createDeployment('web');
    const onA = await launch(a, deployment);
    const onB = await launch(b, deployment);
    const tick = (pid: number) => new RegExp(`tick (\\d+) from ${pid}`, 'g');
    await waitFor(
      async () => {
        const text = (await a.ctl(['logs', '--app', 'web', '--source', 'app'])).stdout.toString();
        return tick(onA.appPid).test(text) && tick(onB.appPid).test(text);
      },
      { what: () => 'the kept lines of both instances on A' },
    );
    const kept = await a.ctl(['logs', '--app', 'web', '--source', 'app', '--json']);
    expect(kept.code).toBe(0);
    const lines = kept.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { timestamp: string; line: string });
    const times = lines.map((l) => Date.parse(l.timestamp));
    expect(times).toEqual([...times].sort((x, y) => x - y));
    expect(lines.some((l) => l.line.endsWith(`from ${onB.appPid}`))).toBe(true);

    const follow = a.startCtl(['logs', '-f', '--app', 'web', '--source', 'app']);
    const lastOf = (text: string, pid: number) => Math.max(0, ...[...text.matchAll(tick(pid))].map((m) => Number(m[1])));
    await follow.waitForOutput(tick(onB.appPid));
    // New lines of B's app keep coming through A: past what the kept lines held.
    const keptB = lastOf(kept.stdout.toString(), onB.appPid);
    await waitFor(() => lastOf(follow.stdout().toString(), onB.appPid) > keptB + 5, { what: () => `new lines of B's app through A: ${follow.stdout().toString().slice(-300)}` });
    await waitFor(() => lastOf(follow.stdout().toString(), onA.appPid) > keptB, { what: () => 'A\'s own app too' });
    follow.proc.kill('SIGTERM');
  });

  it('-f follows a replica that joins after it began, and an instance that moves to another replica', async () => {
    const [a, b] = await startReplicas(2);
    const deployment = await a.createDeployment('web');
    const joinC = () => startServer({ databaseUrl: a.databaseUrl, operatorToken: a.operatorToken, args: ['--replica-timeout', TEST_REPLICA_TIMEOUT] });
    const c = await joinC();
    // The instance on B, which moves to C when B dies; its lines followed through A by id.
    const moving = await launch(b, deployment, `${b.addr},${c.addr}`);
    let instanceId = '';
    await waitFor(async () => (instanceId = (await a.instances('web'))[0]?.id ?? '') !== '', { what: () => 'A to list the instance' });
    const byInstance = a.startCtl(['logs', '-f', '--instance', instanceId, '--source', 'app']);
    const byApp = a.startCtl(['logs', '-f', '--app', 'web', '--source', 'app']);
    await byInstance.waitForOutput(`from ${moving.appPid}`);
    await byApp.waitForOutput(`from ${moving.appPid}`);

    // A replica that joins after the follow began: its instance's lines come too.
    const d = await joinC();
    const onD = await launch(d, deployment);
    await byApp.waitForOutput(`from ${onD.appPid}`, { timeoutMs: 15_000 });

    // B dies: the instance registers on C (asked before, when it did not know it), its app untouched.
    const seen = (text: string) => Math.max(0, ...[...text.matchAll(new RegExp(`tick (\\d+) from ${moving.appPid}`, 'g'))].map((m) => Number(m[1])));
    await b.stop({ signal: 'SIGKILL' });
    const before = seen(byInstance.stdout().toString());
    await waitFor(() => seen(byInstance.stdout().toString()) > before + 10, {
      timeoutMs: 20_000,
      what: () => `lines of the moved instance through A after tick ${before}: ${byInstance.stdout().toString().slice(-300)}`,
    });
    expect(isAlive(moving.appPid)).toBe(true);
  });

  it('of one instance on another replica, and NOT_FOUND for one no replica knows', async () => {
    const { a, onB, instanceId } = await appOnB();
    await waitFor(async () => (await a.ctl(['logs', '--instance', instanceId])).stdout.toString().includes(`from ${onB.appPid}`), {
      what: () => 'the lines of B\'s instance through A',
    });
    const unknown = await a.ctl(['logs', '--instance', 'no-such-instance']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr.toString()).toMatch(/no instance "no-such-instance" on any replica/);
  });
});

interface Answer {
  status: number;
  body: string;
}

function request(server: TestServer, host: string, opts: { method?: string; path?: string; body?: Buffer; headers?: Record<string, string> } = {}): Promise<Answer> {
  return withDeadline(
    new Promise<Answer>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: server.httpPort, method: opts.method ?? 'GET', path: opts.path ?? '/', agent: false, headers: { Host: host, ...opts.headers } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString() }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(opts.body);
    }),
    20_000,
    `${host}${opts.path ?? '/'}`,
  );
}

/** The app on B only, reachable through its tunnel; waits until A forwards to it. */
async function urlOnB(args: string[] = []): Promise<{ a: TestServer; b: TestServer; onB: Launched; host: string }> {
  const { a, b, onB } = await appOnB('shop', args);
  const host = `shop.localhost:${a.httpPort}`;
  let last: Answer | undefined;
  await waitFor(
    async () => {
      last = await request(a, host);
      return last.status === 200;
    },
    { what: () => `A's ingress to reach B's app: ${JSON.stringify(last)}` },
  );
  return { a, b, onB, host };
}

describe.skipIf(!REPLICAS)('URLs through one replica\'s ingress', () => {
  it('reach the app on another replica: answers, bodies both ways, the client\'s forwarded headers, no mark', async () => {
    const { a, onB, host } = await urlOnB();
    expect(await request(a, host)).toEqual({ status: 200, body: `hello from ${onB.appPid}\n` });
    const body = Buffer.alloc(2 * 1024 * 1024, 'x');
    const echo = await request(a, host, { method: 'POST', path: '/echo', body });
    expect([echo.status, echo.body.length]).toEqual([200, body.length]);
    // The app sees the client as a direct request would give it, and a forged mark is ignored
    // and dropped: the request is forwarded all the same, the mark never reaching the app.
    const seen = await request(a, host, { path: '/headers', headers: { 'X-Forwarded-For': '6.6.6.6', 'X-Waypoint-Replica-Hop': 'forged 1 1 x y' } });
    const raw = JSON.parse(seen.body) as string[];
    const header = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1].toLowerCase() === name);
    expect(header('x-forwarded-for')).toEqual(['127.0.0.1']);
    expect(header('x-forwarded-host')).toEqual([host]);
    expect(header('x-waypoint-replica-hop')).toEqual([]);
  });

  it('carry a WebSocket to the app on another replica', async () => {
    const { a, onB, host } = await urlOnB();
    const ws = new WebSocket(`ws://127.0.0.1:${a.httpPort}/ws`, { headers: { Host: host } });
    const received: string[] = [];
    ws.on('message', (d) => received.push(d.toString()));
    await withDeadline(new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject)), 10_000, 'the WebSocket to open');
    ws.send('one');
    ws.send('two');
    await waitFor(() => received.length === 2, { what: () => `two echoes: ${JSON.stringify(received)}` });
    expect(received).toEqual([`${onB.appPid}: one`, `${onB.appPid}: two`]);
    ws.close();
  });

  it('list the app\'s URLs on A with the instance serving them on B', async () => {
    const { a } = await urlOnB();
    let urls: Array<{ url: string; deployment_id: string | null; instances: number }> = [];
    await waitFor(
      async () => {
        urls = JSON.parse((await a.ctl(['url', '--app', 'shop', '--json'])).stdout.toString()) as typeof urls;
        return urls.length === 2 && urls.every((u) => u.instances === 1);
      },
      { what: () => `both URLs of shop served by B's instance: ${JSON.stringify(urls)}` },
    );
    expect(urls[0].deployment_id).toBeNull(); // the app's URL; then its deployment's
  });

  it('hold the other replica to no per-client limit: its connections carry many clients', async () => {
    const { a, onB, host } = await urlOnB(['--url-max-connections-per-client', '2']);
    // Four WebSockets at once through A, each a connection from A to B (B allows a client 2).
    // Every replica learns the others' addresses within a few seconds of their start.
    let opened: WebSocket[] = [];
    await waitFor(
      async () => {
        for (const ws of opened) ws.terminate();
        opened = Array.from({ length: 4 }, () => new WebSocket(`ws://127.0.0.1:${a.httpPort}/ws`, { headers: { Host: host } }));
        const ok = await Promise.all(opened.map((ws) => new Promise<boolean>((resolve) => ws.once('open', () => resolve(true)).once('error', () => resolve(false)))));
        return ok.every(Boolean);
      },
      { timeoutMs: 15_000, what: () => 'four WebSockets open at once through A' },
    );
    const echoes = await Promise.all(
      opened.map((ws, i) => new Promise<string>((resolve) => {
        ws.once('message', (d) => resolve(d.toString()));
        ws.send(`n${i}`);
      })),
    );
    expect(echoes).toEqual([0, 1, 2, 3].map((i) => `${onB.appPid}: n${i}`));
    for (const ws of opened) ws.close();
  });

  it('answer 503 when no replica has a live tunnel of the app', async () => {
    const [a] = await startReplicas(2);
    await a.createDeployment('idle');
    const r = await request(a, `idle.localhost:${a.httpPort}`);
    expect(r).toEqual({ status: 503, body: 'no instance of app idle is connected with its tunnel\n' });
  });
});

describe.skipIf(!REPLICAS)('the console of one replica', () => {
  it('runs exec in an instance on another replica, and shows its logs in the history and the stream', async () => {
    const { a, onB, instanceId } = await appOnB('web', ['--console-dir', consoleFixture()]);
    const token = a.operatorToken;
    const sock = await openExec(a, { token });
    sock.send({ type: 'start', app: 'web', args: ['sh', '-c', 'read x; echo "out $x"; echo "err $x" >&2; exit 5'], tty: false });
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'started'), 'started');
    expect(sock.messages.find((m) => m.type === 'started')).toMatchObject({ instanceId });
    sock.input('hello\n');
    sock.send({ type: 'eof' });
    await sock.waitFor((x) => x.messages.some((m) => m.type === 'exit'), 'exit');
    expect([sock.stdout(), sock.stderr()]).toEqual(['out hello\n', 'err hello\n']);
    expect(sock.messages.find((m) => m.type === 'exit')).toEqual({ type: 'exit', code: 5 });

    const fromB = (e: { event: string; data?: { line?: string } }) => e.event === 'line' && (e.data?.line ?? '').endsWith(`from ${onB.appPid}`);
    const live = await openEvents(a, '/api/v1/logs/stream?app=web&source=app', { token });
    expect(live.status).toBe(200);
    const streamed = await live.waitFor(fromB, 3);
    // B's lines keep their ids there, without an event id (a stream resumes from A's own lines).
    expect(streamed[0].id).toBeUndefined();
    expect(streamed[0].data).toMatchObject({ app: 'web', instanceId, source: 'app' });
    const history = await api(a, 'GET', '/api/v1/logs?app=web&source=app', { token });
    const lines = history.text.trimEnd().split('\n').map((l) => JSON.parse(l) as { id: string; line: string; deploymentId: string });
    expect(lines.filter((l) => l.line.endsWith(`from ${onB.appPid}`)).length).toBeGreaterThan(0);
    // The same line has the same id in both (the page drops the stream's copies of history lines).
    expect(lines.map((l) => l.id)).toContain(streamed[0].data.id);
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
    expect((await api(a, 'GET', '/api/v1/logs?instance=01NOPE', { token })).status).toBe(404);
  });
});
