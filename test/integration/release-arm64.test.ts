// The linux-arm64 release binary (dist/release, `npm run release`) run on this x64 machine by
// qemu-aarch64-static, with Debian 11's arm64 C library and libstdc++ as its prefix (debootstrap
// --foreign, release-env.ts; glibc 2.31): `--version`, exit codes and SIGTERM passthrough,
// terminal mode, and connected to the reference server: config, logs, exec with and without a
// terminal, exec errors. qemu-user
// runs the binary only; what it starts (sh, the app, exec's commands) are this machine's own
// programs, as the kernel runs them. Slow (~2 s a start under emulation), so the deadlines are long.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeAll, expect, it } from 'vitest';
import { execOnTerminal, execWithoutTerminal, expectExecErrors, expectLogsAtServer, expectNoWarnings, type Launch, startConnected } from '../helpers/release-connected.js';
import { releaseSuite, requireRelease } from '../helpers/release-dist.js';
import { bullseyeArm64Libs, NODE_VERSION } from '../helpers/release-env.js';
import { cleanEnv, killAll, ROOT, run, start, withDeadline } from '../helpers/run.js';
import { stopServers } from '../helpers/server.js';
import { closeTerminals, openTerminal } from '../helpers/terminal.js';

const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const QEMU = '/usr/bin/qemu-aarch64-static';
const DEADLINE = 90_000;

afterEach(async () => {
  closeTerminals();
  killAll();
  await stopServers();
});

releaseSuite('release-arm64.test.ts', ['linux-arm64'])('the linux-arm64 release binary under qemu-aarch64 on Debian 11 arm64 libraries', () => {
  let binary: string;
  let libs: string;
  const qemuArgs = (argv: string[]) => ['-L', libs, binary, ...argv];
  const launch: Launch = (argv, env) => start(qemuArgs(argv), { bin: QEMU, env: cleanEnv(env) });
  const runIt = (argv: string[]) => run(qemuArgs(argv), { bin: QEMU, env: cleanEnv(), timeoutMs: DEADLINE });

  beforeAll(() => {
    binary = requireRelease('linux-arm64');
    libs = bullseyeArm64Libs();
  }, 600_000);

  it('says its version, the Node inside and the target', async () => {
    const r = await runIt(['--version']);
    expect({ code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() }).toEqual({
      code: 0,
      stdout: `waypoint-entrypoint ${VERSION} (node v${NODE_VERSION}, linux-arm64)\n`,
      stderr: '',
    });
  }, DEADLINE);

  it('passes exit codes through: 0, 3, and 127 with one line for a missing command', async () => {
    for (const [argv, code] of [[['true'], 0], [['sh', '-c', 'exit 3'], 3]] as const) {
      const r = await runIt([...argv]);
      expect({ code: r.code, stderr: r.stderr.toString() }).toEqual({ code, stderr: '' });
    }
    const missing = await runIt(['no-such-command']);
    expect({ code: missing.code, stderr: missing.stderr.toString() }).toEqual({
      code: 127,
      stderr: 'waypoint-entrypoint: error: no-such-command: command not found\n',
    });
  }, 4 * DEADLINE);

  it('runs on Debian 11’s arm64 glibc 2.31, and forwards SIGTERM to the app, whose trap decides the exit code', async () => {
    const app = launch(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'], {});
    await app.waitForOutput('ready\n', { timeoutMs: DEADLINE });
    // qemu maps the guest's libraries into its own address space: the C library is bullseye's.
    const maps = readFileSync(`/proc/${app.pid}/maps`, 'utf8');
    for (const lib of ['libc-2.31.so', 'libstdc++.so.6.0.28']) expect(maps).toContain(path.join(libs, 'usr/lib/aarch64-linux-gnu', lib));
    app.proc.kill('SIGTERM'); // to qemu, which delivers it to the arm64 program it runs
    expect(await withDeadline(app.exited, DEADLINE, 'the binary to exit')).toEqual({ code: 7, signal: null });
    expect(app.stdout().toString()).toBe('ready\ngot-term\n');
  }, 2 * DEADLINE);

  it('in terminal mode, gives the app a terminal of its own with the window size (the arm64 pty.node)', async () => {
    const t = openTerminal(QEMU, qemuArgs(['sh', '-c', 'tty; stty size; exit 6']), { cols: 91, rows: 27 });
    expect(await withDeadline(t.exited, DEADLINE, 'the binary on a terminal to exit')).toBe(6);
    expect(t.output()).toMatch(/^\/dev\/pts\/\d+\r\n27 91\r\n$/);
  }, 2 * DEADLINE);

  it('connected to the server: config reaches the app, logs reach the server, exec runs with and without a terminal', async () => {
    const connected = await startConnected(launch, DEADLINE);
    await expectLogsAtServer(connected, DEADLINE);
    expect(await execWithoutTerminal(connected, 'echo "in $PWD"; echo to-err >&2; exit 5', DEADLINE)).toEqual({
      code: 5,
      stdout: expect.stringMatching(/^in \/\S*\n$/),
      stderr: 'to-err\n',
    });
    await execOnTerminal(connected, 'echo "term=$TERM"', DEADLINE);
    await expectExecErrors(connected, DEADLINE);
    expectNoWarnings(connected, [
      // qemu-user fakes /proc/self/stat with most fields 0, env_start among them: the entrypoint
      // cannot find its environment block there (it does on a real arm64 kernel).
      /^waypoint-entrypoint: warn: WAYPOINT_CEB_INVITE_TOKEN could not be erased from our environment block; .* why="\/proc\/self\/stat does not say where the environment block is"$/,
    ]);
  }, 5 * DEADLINE);
});
