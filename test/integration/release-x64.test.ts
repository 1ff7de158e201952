// The linux-x64 release binary (dist/release, `npm run release`) as a user runs it on an older
// distribution: inside a Debian 11 root filesystem (debootstrap minbase bullseye, glibc 2.31;
// release-env.ts), entered with unshare + chroot (/proc, its own /dev/pts and a tmpfs /tmp
// mounted in a private mount namespace, gone with it). Exit codes and signals; terminal mode on
// a pty from outside; connected to the reference server running outside the root filesystem
// (same network namespace): config, logs, exec with and without a terminal.
import { afterEach, beforeAll, expect, it } from 'vitest';
import { execOnTerminal, execWithoutTerminal, expectExecErrors, expectLogsAtServer, expectNoWarnings, type Launch, startConnected } from '../helpers/release-connected.js';
import { releaseSuite, requireRelease, RELEASE_DIR } from '../helpers/release-dist.js';
import { bullseyeRoot, chrootCommand } from '../helpers/release-env.js';
import { cleanEnv, killAll, run, start, withDeadline } from '../helpers/run.js';
import { stopServers } from '../helpers/server.js';
import { closeTerminals, openTerminal } from '../helpers/terminal.js';

const BINARY = '/opt/waypoint-entrypoint-linux-x64';
const DEADLINE = 30_000;
const isRoot = process.getuid?.() === 0;

afterEach(async () => {
  closeTerminals();
  killAll();
  await stopServers();
});

releaseSuite('release-x64.test.ts', ['linux-x64'], isRoot)('the linux-x64 release binary in Debian 11 (chroot)', () => {
  let root: string;
  /** [bin, ...args] running the binary with `argv` in the root filesystem (the release dir at /opt). */
  const inBullseye = (argv: string[]) => chrootCommand(root, { [RELEASE_DIR]: '/opt' }, [BINARY, ...argv]);
  const launch: Launch = (argv, env) => {
    const [bin, ...args] = inBullseye(argv);
    return start(args, { bin, env: cleanEnv(env) });
  };

  beforeAll(() => {
    requireRelease('linux-x64');
    root = bullseyeRoot();
  }, 600_000);

  it('passes exit codes through: 0, 3, and 127 with one line for a missing command', async () => {
    for (const [argv, code] of [[['true'], 0], [['sh', '-c', 'exit 3'], 3]] as const) {
      const [bin, ...args] = inBullseye([...argv]);
      const r = await run(args, { bin, env: cleanEnv(), timeoutMs: DEADLINE });
      expect({ code: r.code, stderr: r.stderr.toString() }).toEqual({ code, stderr: '' });
    }
    const [bin, ...args] = inBullseye(['no-such-command']);
    const missing = await run(args, { bin, env: cleanEnv(), timeoutMs: DEADLINE });
    expect({ code: missing.code, stderr: missing.stderr.toString() }).toEqual({
      code: 127,
      stderr: 'waypoint-entrypoint: error: no-such-command: command not found\n',
    });
  }, 3 * DEADLINE);

  it('runs on glibc 2.31: the app sees the root filesystem’s Debian 11', async () => {
    const [bin, ...args] = inBullseye(['sh', '-c', 'cat /etc/debian_version; ldd --version | head -1']);
    const r = await run(args, { bin, env: cleanEnv(), timeoutMs: DEADLINE });
    expect(r.code, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toMatch(/^11\.\d+\nldd \(Debian GLIBC 2\.31-.*\) 2\.31\n$/);
  }, 2 * DEADLINE);

  it('forwards SIGTERM to the app, whose trap decides the exit code', async () => {
    const app = launch(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'], {});
    await app.waitForOutput('ready\n', { timeoutMs: DEADLINE });
    app.proc.kill('SIGTERM');
    expect(await withDeadline(app.exited, DEADLINE, 'the binary to exit')).toEqual({ code: 7, signal: null });
    expect(app.stdout().toString()).toBe('ready\ngot-term\n');
  }, 2 * DEADLINE);

  it('in terminal mode, gives the app a terminal of its own with the window size', async () => {
    const [bin, ...args] = inBullseye(['sh', '-c', 'tty; stty size; exit 6']);
    const t = openTerminal(bin, args, { cols: 91, rows: 27 });
    expect(await withDeadline(t.exited, DEADLINE, 'the binary on a terminal to exit')).toBe(6);
    expect(t.output()).toMatch(/^\/dev\/pts\/\d+\r\n27 91\r\n$/);
  }, 2 * DEADLINE);

  it('connected to the server outside: config reaches the app, logs reach the server, exec runs with and without a terminal', async () => {
    const connected = await startConnected(launch, DEADLINE);
    await expectLogsAtServer(connected, DEADLINE);
    expect(await execWithoutTerminal(connected, 'echo "debian $(cat /etc/debian_version)"; echo to-err >&2; exit 5', DEADLINE)).toEqual({
      code: 5,
      stdout: expect.stringMatching(/^debian 11\.\d+\n$/),
      stderr: 'to-err\n',
    });
    const shown = await execOnTerminal(connected, 'cat /etc/debian_version', DEADLINE);
    expect(shown).toMatch(/\n11\.\d+\r?\n/);
    await expectExecErrors(connected, DEADLINE);
    expectNoWarnings(connected);
  }, 5 * DEADLINE);
});
