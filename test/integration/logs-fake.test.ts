// Log shipping end to end (the bundle) against the scriptable fake server, which records every
// line it receives: the app's lines with their instance id, source and timestamps while our own
// stdout stays byte-exact; partial lines, huge lines, invalid UTF-8; a server gone while the
// app writes (never slowed, backlog and drop marker on return); a refused stream retried; inline
// keepalives on an idle stream; the last lines flushed at exit.
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeFixture } from '../helpers/fake-fixture.js';
import type { FakeScript, FakeWaypoint, ReceivedLine } from '../helpers/fake-waypoint.js';
import { childPids } from '../helpers/proc.js';
import { ENTRYPOINT, type Running, start, waitFor, withDeadline } from '../helpers/run.js';
import { closeTerminals, openTerminal } from '../helpers/terminal.js';

const fx = fakeFixture('logs');
afterEach(closeTerminals);

async function fake(script: Partial<FakeScript> = {}): Promise<FakeWaypoint> {
  return fx.fake(script);
}

function launch(f: FakeWaypoint, app: string, extra: NodeJS.ProcessEnv = {}): Running {
  const r = start(['sh', '-c', app], {
    env: fx.env(f.addr, { WAYPOINT_CEB_CONNECT_TIMEOUT: '5s', ...extra }),
  });
  return r;
}

const appLines = (f: FakeWaypoint) => f.lines.filter((l) => l.source === 'APP');
const hasLine = (f: FakeWaypoint, text: string) => f.lines.some((l) => l.line === text);

async function waitForLine(f: FakeWaypoint, text: string | RegExp, timeoutMs = 10_000): Promise<ReceivedLine> {
  const match = (l: ReceivedLine) => (typeof text === 'string' ? l.line === text : text.test(l.line));
  await waitFor(() => f.lines.some(match), {
    timeoutMs,
    what: () => `${String(text)} at the fake; last lines: ${JSON.stringify(f.lines.slice(-5).map((l) => l.line.slice(0, 200)))}`,
  });
  return f.lines.find(match)!;
}

/** Peak resident memory of a process, in KiB. */
function vmHwmKiB(pid: number): number {
  return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

describe('lines at the server', () => {
  it('app lines arrive with the instance id, source APP and monotonic timestamps; our stdout is byte-exact', async () => {
    const f = await fake();
    // CRLF, a line without newline at the end, invalid UTF-8, on both streams.
    const app = `printf 'one\\r\\ntwo\\n'; printf 'err line\\n' >&2; printf 'bad \\377\\376 end\\n'; i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo "n $i"; done; printf 'last'; sleep 30`;
    const r = launch(f, app);
    await waitForLine(f, 'n 50\n');
    await waitForLine(f, 'last');
    const expected = Buffer.concat([Buffer.from('one\r\ntwo\n'), Buffer.from([0x62, 0x61, 0x64, 0x20, 0xff, 0xfe, 0x20, 0x65, 0x6e, 0x64, 0x0a])]);
    const out = r.stdout();
    expect(out.subarray(0, expected.length).equals(expected)).toBe(true);
    expect(out.toString('latin1')).toMatch(/n 50\nlast$/);
    expect(r.stderr().toString()).toContain('err line\n');

    const instance = f.openInstances()[0];
    const lines = appLines(f);
    expect(lines.map((l) => l.line)).toEqual(expect.arrayContaining(['one\r\n', 'two\n', 'err line\n', 'bad \ufffd\ufffd end\n']));
    expect(lines.filter((l) => l.line.startsWith('n ')).map((l) => l.line)).toEqual([...Array(50)].map((_, i) => `n ${i + 1}\n`));
    expect(new Set(f.lines.map((l) => l.instanceId))).toEqual(new Set([instance]));
    for (let i = 1; i < f.lines.length; i++) expect(f.lines[i].time).toBeGreaterThanOrEqual(f.lines[i - 1].time);
    expect(Math.abs(lines[0].time - Date.now())).toBeLessThan(10_000);

    // Our own records at info and above, as ENTRYPOINT; never a secret.
    const ours = f.lines.filter((l) => l.source === 'ENTRYPOINT');
    expect(ours.some((l) => l.line.startsWith('waypoint-entrypoint: info: connected to the server'))).toBe(true);
    expect(ours.every((l) => !/: (debug|trace):/.test(l.line))).toBe(true);
    for (const l of f.lines) {
      expect(l.line).not.toContain(fx.token);
      expect(l.line).not.toContain(fx.invite);
    }
  });

  it('a partial line (no newline) is sent after a short delay', async () => {
    const f = await fake();
    const r = launch(f, `printf 'prompt> '; sleep 30`);
    await r.waitForOutput('prompt> ');
    const seenAt = Date.now();
    const line = await waitForLine(f, 'prompt> ', 2000);
    expect(line.at - seenAt).toBeLessThan(1000);
  });

  it('a 10 MB line: delivered in pieces of at most 64 KiB, our memory stays bounded', async () => {
    const f = await fake();
    const size = 10 * 1024 * 1024;
    // Written 64 KiB at a time, at a pace a server can follow (faster, the 1 MiB queue drops).
    const app = `for i in $(seq 160); do head -c 65536 /dev/zero | tr '\\0' a; done; echo; echo after; sleep 30`;
    const r = launch(f, app);
    await waitForLine(f, 'after\n', 20_000);
    const pieces = appLines(f).filter((l) => /^a+\n?$/.test(l.line));
    expect(f.lines.filter((l) => l.line.includes('dropped'))).toEqual([]);
    expect(pieces.reduce((n, l) => n + l.line.replace('\n', '').length, 0)).toBe(size);
    expect(Math.max(...pieces.map((l) => Buffer.byteLength(l.line)))).toBeLessThanOrEqual(64 * 1024);
    expect(r.stdout().length).toBe(size + 1 + 'after\n'.length);
    // Connected and idle we peak around 60 MiB; 10 MB passing through leaves ~20 MiB of
    // garbage the GC has not taken yet (30 MB: ~35 MiB). Holding the line whole (as bytes, as
    // a string, encoded) would add three times its size on top.
    expect(vmHwmKiB(r.pid)).toBeLessThan(100 * 1024);
  });

  it('the last lines reach the server before we exit', async () => {
    const f = await fake();
    const r = launch(f, 'seq -f "end %g" 1 5000; exit 3');
    const exit = await withDeadline(r.exited, 10_000, 'the entrypoint to exit');
    expect(exit.code).toBe(3);
    const ends = appLines(f).filter((l) => l.line.startsWith('end '));
    expect(ends).toHaveLength(5000);
    expect(ends.at(-1)!.line).toBe('end 5000\n');
  });

  it('our stdout a terminal, our stdin not: the app runs on pipes, its bytes reach the terminal and the server', async () => {
    const f = await fake();
    // stdin from /dev/null: no terminal mode, so the relay writes to the terminal we were given.
    const app = `[ -t 1 ] && echo "stdout tty" || echo "stdout pipe"; seq -f "t %g" 1 2000; printf 'err on tty\\n' >&2; sleep 30`;
    const term = openTerminal('/bin/sh', ['-c', 'exec "$0" sh -c "$1" </dev/null', ENTRYPOINT, app], {
      env: fx.env(f.addr, { WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' }),
    });
    await term.waitFor('t 2000\r\n');
    await term.waitFor('err on tty');
    await waitForLine(f, 't 2000\n');
    // The terminal turns each newline into CR LF (onlcr). Each stream keeps its order; stderr (the
    // app's line, our own log: one write each) may land anywhere in stdout's bytes, even within a
    // line (two pipes relayed apart, each chunk written as read), so it is cut out before stdout's
    // bytes are compared.
    const shown = term
      .output()
      .replaceAll('\r\n', '\n')
      .replaceAll('err on tty\n', '')
      .replace(/waypoint-entrypoint: [^\n]*\n/g, '');
    expect(shown).toContain(`stdout pipe\n${[...Array(2000)].map((_, i) => `t ${i + 1}\n`).join('')}`);
    expect(appLines(f).filter((l) => l.line.startsWith('t ')).map((l) => l.line)).toEqual([...Array(2000)].map((_, i) => `t ${i + 1}\n`));
    expect(hasLine(f, 'stdout pipe\n')).toBe(true);
  });
});

describe('a server that is gone or refuses', () => {
  it('server stopped while the app writes: the app is not held up; the backlog and one drop marker arrive on return', async () => {
    const f = await fake();
    // USR1: a burst of 100 000 lines (1.4 MB, more than the 1 MiB backlog), timed by the app.
    const app = [
      `trap 's=$(date +%s%N); seq -f "burst %g" 1 100000; echo "burst took $(( ($(date +%s%N) - s) / 1000000 )) ms"' USR1`,
      'i=0; while :; do i=$((i+1)); echo "tick $i"; sleep 0.02; done',
    ].join('; ');
    const r = launch(f, app);
    await waitForLine(f, 'tick 3\n');
    await f.stop();
    await r.waitForOutput('lost the server connection', { stream: 'stderr' });
    const [appPid] = childPids(r.pid);
    process.kill(appPid, 'SIGUSR1');
    await r.waitForOutput(/burst took \d+ ms\n/, { timeoutMs: 10_000 });
    const took = Number(/burst took (\d+) ms/.exec(r.stdout().toString())![1]);
    expect(took).toBeLessThan(3000); // as fast as the pipe to our stdout allows, no server wait
    const ticks = Number([...r.stdout().toString().matchAll(/^tick (\d+)$/gm)].at(-1)![1]);
    await r.waitForOutput(`tick ${ticks + 5}\n`); // still ticking

    await f.start();
    const marker = await waitForLine(f, /^waypoint-entrypoint: \d+ log lines were dropped/, 20_000);
    expect(marker.source).toBe('ENTRYPOINT');
    const dropped = Number(/(\d+) log lines/.exec(marker.line)![1]);
    expect(dropped).toBeGreaterThan(20_000);
    await waitForLine(f, 'burst 100000\n');
    await waitForLine(f, /^burst took/);
    // One marker; after it, the newest lines of the burst, in order and without a gap.
    expect(f.lines.filter((l) => /^waypoint-entrypoint: \d+ log lines were dropped/.test(l.line))).toHaveLength(1);
    // Our log said so too (at most one warning per 5 s while drops go on), with the same count.
    await r.waitForOutput(new RegExp(`warn: log lines were dropped: .* total=${dropped} `), { stream: 'stderr' });
    const burst = appLines(f).map((l) => /^burst (\d+)\n$/.exec(l.line)).filter((m) => m !== null).map((m) => Number(m[1]));
    expect(burst.at(-1)).toBe(100_000);
    expect(burst.length).toBeLessThan(100_000);
    for (let i = 1; i < burst.length; i++) expect(burst[i]).toBe(burst[i - 1] + 1);
    // The lost connection was told once, by the connection; the log stream lost with it adds nothing.
    expect(r.stderr().toString()).not.toMatch(/log stream/);
  });

  it('lines still queued when we exit with the server away are counted in a warning, not lost silently', async () => {
    const f = await fake();
    const r = launch(f, `trap 'seq -f "late %g" 1 100; exit 0' USR1; echo ready; while :; do sleep 0.1; done`);
    await waitForLine(f, 'ready\n');
    await f.stop();
    await r.waitForOutput('lost the server connection', { stream: 'stderr' });
    process.kill(childPids(r.pid)[0], 'SIGUSR1');
    const exit = await withDeadline(r.exited, 10_000, 'the entrypoint to exit');
    expect(exit.code).toBe(0);
    const left = /warn: log lines were not shipped: .* lines=(\d+) flush_timeout_ms=\d+$/m.exec(r.stderr().toString());
    expect(left, r.stderr().toString()).not.toBeNull();
    // The app's 100 lines, and our own records since the connection was lost.
    expect(Number(left![1])).toBeGreaterThanOrEqual(100);
    expect(Number(left![1])).toBeLessThan(110);
  });

  // Its own waits bound it (a burst of 58 MB through the relay, then the backlog): the test's limit is their sum.
  it('connected, the server stops reading: the app is not held up; every line dropped is marked for the server and warned about in our log', { timeout: 90_000 }, async () => {
    const f = await fake();
    // USR1: 500 000 lines of 100 B (58 MB encoded), more than the 32 MiB the queue holds while connected.
    const burst = 500_000;
    const pad = 'x'.repeat(87);
    const r = launch(f, `trap 'seq -f "burst %06g ${pad}" 1 ${burst}; echo "burst done"' USR1; echo ready; while :; do sleep 0.1; done`);
    await waitForLine(f, 'ready\n');
    f.pauseLogStreams();
    process.kill(childPids(r.pid)[0], 'SIGUSR1');
    await r.waitForOutput('burst done\n', { timeoutMs: 30_000 });
    await r.waitForOutput(/warn: log lines were dropped/, { stream: 'stderr' });
    f.resumeLogStreams();
    await waitForLine(f, 'burst done\n', 30_000);

    const warning = /^waypoint-entrypoint: warn: log lines were dropped: .* dropped=(\d+) total=(\d+) queue_bytes=33554432$/gm;
    const marked = () => f.lines.map((l) => /^waypoint-entrypoint: (\d+) log lines were dropped/.exec(l.line)).reduce((n, m) => n + (m ? Number(m[1]) : 0), 0);
    const numbers = () => appLines(f).map((l) => /^burst (\d+) x+\n$/.exec(l.line)).filter((m) => m !== null).map((m) => Number(m[1]));
    // Lines dropped = the burst's missing lines + our own warnings that were dropped with them.
    const settled = () => {
      const warned = [...r.stderr().toString().matchAll(warning)];
      const warnedAtServer = f.lines.filter((l) => l.line.startsWith('waypoint-entrypoint: warn: log lines were dropped')).length;
      const missing = burst - numbers().length;
      return marked() > 0 && Number(warned.at(-1)![2]) === marked() && marked() - missing === warned.length - warnedAtServer;
    };
    await waitFor(settled, {
      timeoutMs: 20_000,
      what: () => `every dropped line marked and warned: marked ${marked()}, burst lines ${numbers().length}, stderr ${JSON.stringify(r.stderr().toString().slice(-600))}`,
    });
    expect(marked()).toBeGreaterThan(100_000);
    const got = numbers();
    expect(got.at(-1)).toBe(burst);
    for (let i = 1; i < got.length; i++) expect(got[i]).toBeGreaterThan(got[i - 1]);
    // Our stdout lost nothing: dropping is the shipping's, never the relay's.
    expect(r.stdout().toString().match(/^burst \d{6} x+$/gm)).toHaveLength(burst);
  });

  it('a refused log stream is a warning and is retried; its lines are kept for the retry', async () => {
    const f = await fake({ logStream: { refuse: 9, details: 'instance not registered yet' } });
    const r = launch(f, 'echo early; sleep 30');
    await r.waitForOutput('the server refused our log stream', { stream: 'stderr' });
    expect(r.stderr().toString()).toContain('reason="FAILED_PRECONDITION: instance not registered yet"');
    f.script.logStream = 'accept';
    const early = await waitForLine(f, 'early\n', 10_000);
    expect(early.source).toBe('APP');
    expect(f.lines.filter((l) => l.line === 'early\n')).toHaveLength(1);
    expect(f.calls.filter((c) => c.method === 'EntrypointLogStream').length).toBeGreaterThanOrEqual(2);
    await waitFor(() => hasLine(f, 'early\n'), {});
  });

  it('an idle log stream carries inline keepalives when the server lists the feature', async () => {
    const f = await fake();
    launch(f, 'echo hi; sleep 30');
    await waitForLine(f, 'hi\n');
    await waitFor(() => f.logKeepalives >= 1, { timeoutMs: 12_000, what: () => 'an inline keepalive on the log stream' });
    const g = await fake({ features: [] });
    launch(g, 'echo hi; sleep 30');
    await waitForLine(g, 'hi\n');
    await waitFor(() => f.logKeepalives >= 2, { timeoutMs: 12_000, what: () => 'a second keepalive' });
    expect(g.logKeepalives).toBe(0);
  });
});
