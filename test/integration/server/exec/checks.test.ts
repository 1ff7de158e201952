// The server's checks of an exec request's start (L10), against the real server with a
// scripted fake entrypoint: NUL in an arg or TERM, an odd TERM, window sizes no terminal has,
// and resizes during a session clamped to what a terminal can be; and an instance's error
// message shown with its control characters escaped (L6).
import { afterEach, describe, expect, it } from 'vitest';
import { grpc } from '../../../helpers/grpc.js';
import { closeFakeEntrypoints, FakeEntrypoint } from '../../../helpers/fake-entrypoint.js';
import { killAll, run, waitFor } from '../../../helpers/run.js';
import { CTL, startServer, stopServers, type TestServer } from '../../../helpers/server.js';

const { status } = grpc;

afterEach(async () => {
  closeFakeEntrypoints();
  killAll();
  await stopServers();
});

async function history(server: TestServer): Promise<unknown[]> {
  const r = await server.ctl(['exec-history', '--json']);
  expect(r.stderr.toString()).toBe('');
  return JSON.parse(r.stdout.toString()) as unknown[];
}

describe('exec start checks', () => {
  it('L10: refuses NUL in an arg or TERM, an odd TERM, and a window size a terminal cannot have (INVALID_ARGUMENT, nothing placed)', async () => {
    const server = await startServer();
    const ep = await FakeEntrypoint.connect(server, 'web');
    const control = server.control();
    const attempt = (start: Record<string, unknown>) =>
      new Promise<grpc.ServiceError>((resolve) => {
        const call = control.Exec(server.operator());
        call.on('data', () => undefined);
        call.on('error', resolve);
        call.write({ start: { app: 'web', ...start } });
      });
    const refused = async (start: Record<string, unknown>, details: RegExp) => {
      const err = await attempt(start);
      expect(err.code, JSON.stringify(start).slice(0, 100)).toBe(status.INVALID_ARGUMENT);
      expect(err.details).toMatch(details);
    };
    await refused({ args: ['ls\u0000x'] }, /arg 0 holds a NUL/);
    await refused({ args: ['echo', 'a\u0000b'] }, /arg 1 holds a NUL/);
    await refused({ args: ['sh'], tty: true, term: 'xterm\u0000evil' }, /invalid TERM/);
    await refused({ args: ['sh'], tty: true, term: 'x'.repeat(200_000) }, /invalid TERM/);
    await refused({ args: ['sh'], tty: true, term: 'xterm\u001b[2J' }, /invalid TERM/);
    await refused({ args: ['sh'], tty: true, window_size: { rows: 2147483647, cols: 2147483647 } }, /invalid window size 2147483647x2147483647/);
    await refused({ args: ['sh'], tty: true, window_size: { rows: -5, cols: 70000 } }, /rows and cols must be 1 to 65535/);
    await refused({ args: ['sh'], tty: true, window_size: { rows: 24, cols: 0 } }, /rows and cols must be 1 to 65535/);
    await refused({ args: ['sh'], tty: true, window_size: { rows: 24, cols: 80, width: -1 } }, /in pixels/);
    await refused({ instance_id: 'evil\u001b[2J', app: '', args: ['true'] }, /invalid instance id/);
    expect(ep.sessions).toHaveLength(0);
    expect(await history(server)).toEqual([]);
  });

  it('L10: a resize mid-session is clamped to 1..65535 (70000 cols never wraps to 4464)', async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    const call = server.control().Exec(server.operator());
    let out = '';
    call.on('data', (m: { event: string; output?: { data: Buffer } }) => {
      if (m.event === 'output' && m.output) out += Buffer.from(m.output.data).toString();
    });
    call.on('error', () => undefined);
    call.write({ start: { app: 'web', args: ['pty'], tty: true, term: 'xterm', window_size: { rows: 0, cols: 0 } } });
    await waitFor(() => out.includes('"tty":true'), { what: () => `the pty started; got ${JSON.stringify(out)}` });
    call.write({ winch: { rows: -5, cols: 70000 } });
    call.write({ winch: { rows: 2147483647, cols: 80 } });
    await waitFor(() => out.includes('winch 2147483647x80') || out.includes('winch 65535x80'), { what: () => `two resizes; got ${JSON.stringify(out)}` });
    expect(out).toContain('winch 1x65535');
    expect(out).toContain('winch 65535x80');
    call.cancel();
  });

  it("L6: an instance's error message reaches the operator's terminal with its control characters escaped", async () => {
    const server = await startServer();
    await FakeEntrypoint.connect(server, 'web');
    // The fake answers an unknown command with "<command>: command not found".
    const r = await run(['exec', '--app', 'web', '-T', '--', 'evil\x1b]0;owned\x07\x1b[2J'], { bin: CTL, env: server.env(), timeoutMs: 20_000 });
    expect(r.code).toBe(127);
    expect(r.stderr.toString()).toBe('waypoint-ctl: evil\\e]0;owned\\x07\\e[2J: command not found\n');
  });
});
