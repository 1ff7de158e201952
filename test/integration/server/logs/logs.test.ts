// Logs on the reference server: raw gRPC clients ship batches as entrypoints do, and
// `waypoint-ctl logs` (and GetLogs) read them back: format, order, filters, who may ship what,
// keepalives, the bounded buffer, the line counter, following live, and how a follow ends.
import { afterEach, describe, expect, it } from 'vitest';
import type { GetLogsResponse__Output } from '../../../../src/protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import { INLINE_KEEPALIVE_BYTES } from '../../../../src/protocol/keepalive.js';
import { getLogs, grpc, logEntry, md, openLogStream } from '../../../helpers/grpc.js';
import { killAll, waitFor, withDeadline } from '../../../helpers/run.js';
import { type FakeInstance, startServer, stopServers, type TestServer } from '../../../helpers/server.js';

const { status } = grpc;

afterEach(async () => {
  await stopServers();
  killAll();
});

interface JsonLine {
  instance_id: string;
  app: string;
  timestamp: string;
  source: string;
  line: string;
}

async function logsJson(server: TestServer, args: string[] = []): Promise<JsonLine[]> {
  const r = await server.ctl(['logs', '--json', ...args]);
  expect(r.stderr.toString()).toBe('');
  expect(r.code).toBe(0);
  const text = r.stdout.toString();
  return text === '' ? [] : text.trimEnd().split('\n').map((l) => JSON.parse(l) as JsonLine);
}

/** Ships one batch on a fresh log stream of the instance's token and waits for the OK. */
async function ship(inst: FakeInstance, lines: ReturnType<typeof logEntry>[]): Promise<void> {
  const stream = inst.logs();
  stream.send({ instance_id: inst.id, lines });
  expect(await stream.end()).toBeNull();
}

const T0 = Date.UTC(2026, 0, 2, 3, 4, 5, 6);

describe('logs --json', () => {
  it('shows a batch with instance id, source and timestamp, one trailing newline stripped', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    await ship(inst, [
      logEntry('first\n', { ms: T0 }),
      logEntry('two newlines\n\n', { ms: T0 + 1, source: 'ENTRYPOINT' }),
      logEntry('no newline', { ms: T0 + 2 }),
      logEntry('crlf\r\n', { ms: T0 + 3 }),
    ]);
    expect(await logsJson(server)).toEqual([
      { instance_id: inst.id, app: 'web', timestamp: '2026-01-02T03:04:05.006000000Z', source: 'app', line: 'first' },
      { instance_id: inst.id, app: 'web', timestamp: '2026-01-02T03:04:05.007000000Z', source: 'entrypoint', line: 'two newlines\n' },
      { instance_id: inst.id, app: 'web', timestamp: '2026-01-02T03:04:05.008000000Z', source: 'app', line: 'no newline' },
      { instance_id: inst.id, app: 'web', timestamp: '2026-01-02T03:04:05.009000000Z', source: 'app', line: 'crlf\r' },
    ]);
    const human = (await server.ctl(['logs'])).stdout.toString().split('\n');
    expect(human[0]).toBe(`2026-01-02T03:04:05.006Z ${inst.id} app        first`);
    // L6: a newline inside a line is shown escaped, so no line can fake one of its own.
    expect(human[1]).toBe(`2026-01-02T03:04:05.007Z ${inst.id} entrypoint two newlines\\n`);
    expect(human[3]).toBe(`2026-01-02T03:04:05.009Z ${inst.id} app        crlf\\r`);
  });

  it('L6: terminal escapes in a line (t_esc.js) reach `logs` escaped, `logs -f` too; --json keeps them exact', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const evil = 'esc \u001b]0;PWNED-TITLE\u0007 \u001b[2J cleared? \r overwritten\u009b';
    await ship(inst, [logEntry(`${evil}\n`, { ms: T0 })]);
    const follow = server.startCtl(['logs', '-f']);
    await follow.waitForOutput('overwritten');
    for (const out of [(await server.ctl(['logs'])).stdout.toString(), follow.stdout().toString()]) {
      expect(out).toBe(`2026-01-02T03:04:05.006Z ${inst.id} app        esc \\e]0;PWNED-TITLE\\x07 \\e[2J cleared? \\r overwritten\\x9b\n`);
    }
    expect((await logsJson(server))[0].line).toBe(evil);
  });

  it('merges the instances of an app in time order, and filters by app, instance and source', async () => {
    const server = await startServer();
    const a = await server.connectInstance('web');
    const b = await server.connectInstance('web', { deploymentId: a.deploymentId, token: a.token });
    const other = await server.connectInstance('api');
    await ship(a, [logEntry('a1\n', { ms: T0 }), logEntry('a2\n', { ms: T0 + 20, source: 'ENTRYPOINT' })]);
    await ship(b, [logEntry('b1\n', { ms: T0 + 10 }), logEntry('b2\n', { ms: T0 + 30 })]);
    await ship(other, [logEntry('o1\n', { ms: T0 + 5 })]);

    const web = await logsJson(server, ['--app', 'web']);
    expect(web.map((l) => [l.line, l.instance_id])).toEqual([
      ['a1', a.id],
      ['b1', b.id],
      ['a2', a.id],
      ['b2', b.id],
    ]);
    expect((await logsJson(server)).map((l) => l.line)).toEqual(['a1', 'o1', 'b1', 'a2', 'b2']);
    expect((await logsJson(server, ['--instance', b.id])).map((l) => l.line)).toEqual(['b1', 'b2']);
    expect((await logsJson(server, ['--app', 'web', '--source', 'entrypoint'])).map((l) => l.line)).toEqual(['a2']);
    expect((await logsJson(server, ['--source', 'app'])).map((l) => l.line)).toEqual(['a1', 'o1', 'b1', 'b2']);
  });

  it('still shows the lines of an instance that disconnected', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    await ship(inst, [logEntry('last words\n')]);
    inst.config.cancel();
    await waitFor(async () => (await server.instances()).length === 0, { what: () => 'the instance to go' });
    expect((await logsJson(server, ['--instance', inst.id])).map((l) => l.line)).toEqual(['last words']);
  });
});

describe('shipping', () => {
  it('refuses batches for an instance of another deployment (PERMISSION_DENIED), storing nothing', async () => {
    const server = await startServer();
    const a = await server.connectInstance('web');
    const b = await server.connectInstance('api');
    const stream = openLogStream(a.wp, md({ token: a.token }));
    stream.send({ instance_id: b.id, lines: [logEntry('forged\n')] });
    const err = await stream.result;
    expect(err?.code).toBe(status.PERMISSION_DENIED);
    expect(err?.details).toMatch(new RegExp(`instance ${b.id} was registered by deployment ${b.deploymentId}`));
    expect(await logsJson(server)).toEqual([]);
  });

  it('refuses an instance that is not registered (FAILED_PRECONDITION)', async () => {
    const server = await startServer();
    const a = await server.connectInstance('web');
    const stream = a.logs();
    stream.send({ instance_id: 'NEVER-REGISTERED', lines: [logEntry('x\n')] });
    const err = await stream.result;
    expect(err?.code).toBe(status.FAILED_PRECONDITION);
    expect(err?.details).toMatch(/not registered: open its EntrypointConfig stream/);
  });

  it('needs a token', async () => {
    const server = await startServer();
    const a = await server.connectInstance('web');
    const err = await openLogStream(a.wp, md()).end();
    expect(err?.code).toBe(status.UNAUTHENTICATED);
  });

  it('drops inline keepalives on the log stream', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const stream = inst.logs();
    stream.sendRaw(INLINE_KEEPALIVE_BYTES);
    stream.send({ instance_id: inst.id, lines: [logEntry('a\n', { ms: T0 })] });
    stream.sendRaw(INLINE_KEEPALIVE_BYTES);
    stream.send({ instance_id: inst.id, lines: [logEntry('b\n', { ms: T0 + 1 })] });
    expect(await stream.end()).toBeNull();
    expect((await logsJson(server)).map((l) => l.line)).toEqual(['a', 'b']);
    expect((await server.instances())[0].log_lines_received).toBe('2');
  });

  it('ends the stream with INVALID_ARGUMENT on a malformed batch, keeping what came before', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const stream = inst.logs();
    stream.send({ instance_id: inst.id, lines: [logEntry('before\n', { ms: T0 })] });
    stream.sendRaw(Buffer.from([0x12, 0x7f, 0x0a])); // an entry announcing 127 bytes, 1 there
    stream.send({ instance_id: inst.id, lines: [logEntry('after\n', { ms: T0 + 1 })] });
    const err = await stream.result;
    expect(err?.code).toBe(status.INVALID_ARGUMENT);
    expect(err?.details).toMatch(/malformed EntrypointLogBatch: a length runs past the end/);
    expect((await logsJson(server)).map((l) => l.line)).toEqual(['before']);
    // The server is fine: a new stream ships again.
    await ship(inst, [logEntry('again\n', { ms: T0 + 2 })]);
    expect((await logsJson(server)).map((l) => l.line)).toEqual(['before', 'again']);
  });

  it('ends an open log stream with UNAVAILABLE when the server stops, without holding the stop up', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const stream = inst.logs();
    stream.send({ instance_id: inst.id, lines: [logEntry('a\n')] });
    await waitFor(async () => (await server.instances())[0]?.log_lines_received === '1');
    const exit = await server.stop({ signal: 'SIGTERM' });
    expect(exit).toEqual({ code: 0, signal: null });
    const err = await withDeadline(stream.result, 5_000, 'the log stream to end');
    expect(err?.code).toBe(status.UNAVAILABLE);
    expect(err?.details).toBe('the server is shutting down');
  });

  it('keeps the last 10 000 lines of an instance and counts every line received', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const stream = inst.logs();
    for (let i = 0; i < 12_000; i += 1000) {
      stream.send({ instance_id: inst.id, lines: Array.from({ length: 1000 }, (_, j) => logEntry(`line ${i + j}\n`, { ms: T0 + i + j })) });
    }
    expect(await stream.end()).toBeNull();
    const kept = await logsJson(server, ['--instance', inst.id]);
    expect([kept.length, kept[0].line, kept.at(-1)!.line]).toEqual([10_000, 'line 2000', 'line 11999']);
    expect((await server.instances())[0].log_lines_received).toBe('12000');
    const listed = JSON.parse((await server.ctl(['instances', '--json'])).stdout.toString());
    expect(listed[0].log_lines_received).toBe(12_000);
  });
});

describe('logs -f', () => {
  it('shows a new line within a second of its batch', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const stream = inst.logs();
    const follow = server.startCtl(['logs', '-f', '--app', 'web', '--json']);
    stream.send({ instance_id: inst.id, lines: [logEntry('warm-up\n')] });
    await follow.waitForOutput('"line":"warm-up"');
    stream.send({ instance_id: inst.id, lines: [logEntry('live line\n')] });
    const sent = Date.now();
    await follow.waitForOutput('"line":"live line"', { timeoutMs: 1_000 });
    expect(Date.now() - sent).toBeLessThan(1_000);
    expect(await stream.end()).toBeNull();
  });

  it('follows only the filtered source, and ends cleanly on SIGINT and SIGTERM (exit 0, nothing on stderr)', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const follow = server.startCtl(['logs', '-f', '--instance', inst.id, '--source', 'entrypoint']);
      await ship(inst, [logEntry(`app ${signal}\n`), logEntry(`ep ${signal}\n`, { source: 'ENTRYPOINT' })]);
      await follow.waitForOutput(`ep ${signal}`);
      follow.proc.kill(signal);
      expect(await withDeadline(follow.exited, 5_000, 'logs -f to exit')).toEqual({ code: 0, signal: null });
      expect(follow.stdout().toString()).not.toContain(`app ${signal}`);
      expect(follow.stderr().toString()).toBe('');
    }
  });

  it('ends with one clear line (exit 1) when the server stops', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const follow = server.startCtl(['logs', '-f']);
    await ship(inst, [logEntry('up\n')]);
    await follow.waitForOutput(' up\n'); // the ctl's stream is open
    await server.stop({ signal: 'SIGTERM' });
    const exit = await withDeadline(follow.exited, 5_000, 'logs -f to exit');
    expect(exit).toEqual({ code: 1, signal: null });
    expect(follow.stderr().toString()).toBe(
      `waypoint-ctl: the log stream from the server at ${server.addr} ended: the server is shutting down\n`,
    );
  });

  it('a reader that does not keep up loses lines, marked, and never holds ingestion up', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const call = server.control().GetLogs({ app: 'web', follow: true, source: 'ALL' }, server.operator());
    const messages: GetLogsResponse__Output[] = [];
    call.on('data', (m: GetLogsResponse__Output) => messages.push(m));
    call.on('error', () => undefined);
    await new Promise<void>((resolve) => call.once('metadata', () => resolve()));
    call.pause();
    const stream = inst.logs();
    const long = 'x'.repeat(200);
    for (let i = 0; i < 60; i++) {
      stream.send({ instance_id: inst.id, lines: Array.from({ length: 1000 }, (_, j) => logEntry(`${i * 1000 + j} ${long}\n`)) });
    }
    expect(await withDeadline(stream.end(), 10_000, 'ingestion past a stalled reader')).toBeNull();
    expect((await server.instances())[0].log_lines_received).toBe('60000');
    call.resume();
    await waitFor(() => messages.some((m) => m.dropped !== '0') && messages.at(-1)!.lines.at(-1)!.line.startsWith('59999 '), {
      what: () => `the marked gap and the last line (${messages.length} messages so far)`,
    });
    const received = messages.reduce((n, m) => n + m.lines.length, 0);
    const dropped = messages.reduce((n, m) => n + Number(m.dropped), 0);
    expect(received + dropped).toBe(60_000);
    call.cancel();
  });
});

describe('logs: usage and errors', () => {
  it('refuses --app with --instance (exit 2), an unknown instance or app (exit 1), an entrypoint token', async () => {
    const server = await startServer();
    const inst = await server.connectInstance('web');
    const both = await server.ctl(['logs', '--app', 'web', '--instance', inst.id]);
    expect(both.code).toBe(2);
    expect(both.stderr.toString()).toMatch(/--app and --instance do not mix/);
    expect((await server.ctl(['logs', '--source', 'stdout'])).code).toBe(2);
    const unknown = await server.ctl(['logs', '--instance', 'NOPE']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr.toString()).toMatch(/^waypoint-ctl: .*no instance "NOPE"[^\n]*\n$/);
    const app = await server.ctl(['logs', '--app', 'nope']);
    expect(app.code).toBe(1);
    expect(app.stderr.toString()).toMatch(/there is no app named "nope"/);
    const err = await getLogs(server.control(), { app: 'web' }, md({ token: inst.token })).catch((e: grpc.ServiceError) => e);
    expect((err as grpc.ServiceError).code).toBe(status.PERMISSION_DENIED);
  });

  it('prints nothing (exit 0) when there are no lines yet', async () => {
    const server = await startServer();
    await server.connectInstance('web');
    const r = await server.ctl(['logs', '--app', 'web']);
    expect([r.code, r.stdout.toString(), r.stderr.toString()]).toEqual([0, '', '']);
  });
});
