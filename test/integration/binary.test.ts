// Smoke suite on the single executable (dist/waypoint-entrypoint, `npm run build:binary`): the
// same program as the bundle, so only what the packaging can break is checked here — running
// alone, the SEA assets (native addons unpacked, loaded, deleted), the NODE_OPTIONS guard
// patched into the binary, and a few end-to-end behaviours through it.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as pty from 'node-pty';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFake } from '../helpers/fake-waypoint.js';
import { BINARY, cleanEnv, killAll, ROOT, run, start, waitFor, withDeadline } from '../helpers/run.js';

const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const REAPER_OFF = 'zombie reaping is off';

const present = existsSync(BINARY);
if (!present && !process.env.CI) {
  // Locally the binary is an extra build step; in CI (`npm test` builds it) it must be there.
  console.warn(`binary.test.ts: skipped, ${path.relative(ROOT, BINARY)} does not exist (run \`npm run build:binary\`)`);
}
const suite = present || process.env.CI ? describe : describe.skip;

const isRoot = process.getuid?.() === 0;

suite('the single binary', () => {
  /** Temp dirs made by tests, removed after each. */
  const dirs: string[] = [];
  const terminals: pty.IPty[] = [];
  /** A copy of the binary, alone in a directory of its own (no node_modules, no native/). */
  let lonelyDir: string;
  let lonely: string;

  function tempDir(prefix: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `waypoint-binary-${prefix}-`));
    dirs.push(dir);
    return dir;
  }

  beforeAll(() => {
    if (!existsSync(BINARY)) throw new Error(`${BINARY} is missing: run npm run build:binary`);
    lonelyDir = mkdtempSync(path.join(os.tmpdir(), 'waypoint-binary-alone-'));
    lonely = path.join(lonelyDir, 'waypoint-entrypoint');
    copyFileSync(BINARY, lonely);
  });

  afterEach(() => {
    killAll();
    for (const term of terminals.splice(0)) {
      try {
        term.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  afterAll(() => {
    if (lonelyDir) rmSync(lonelyDir, { recursive: true, force: true });
  });

  it('runs copied alone into an empty directory and exits with the app code', async () => {
    const r = await run(['sh', '-c', 'exit 42'], { bin: lonely, cwd: lonelyDir });
    expect(r.code).toBe(42);
    expect(r.stderr.toString()).toBe('');
    expect(readdirSync(lonelyDir)).toEqual(['waypoint-entrypoint']);
  });

  it('copied alone, resolves a dynamic var from its dynamic.cjs asset; a source it lacks is one warning, the app runs', async () => {
    const fake = await startFake({
      invites: { 'invite-binary': 'token-binary' },
      config: {
        env_vars: [
          { name: 'FIXED', dynamic: { from: 'null', config: { static_value: 'from-null' } } },
          { name: 'LOST', dynamic: { from: 'aws-ssm', config: { name: '/p' } } },
        ],
      },
    });
    try {
      const env = cleanEnv({ WAYPOINT_SERVER_ADDR: fake.addr, WAYPOINT_DEPLOYMENT_ID: 'D1', WAYPOINT_CEB_INVITE_TOKEN: 'invite-binary', WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' });
      const r = await run(['sh', '-c', 'echo "FIXED=$FIXED LOST=${LOST-unset}"'], { bin: lonely, cwd: lonelyDir, env });
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('FIXED=from-null LOST=unset\n');
      const warnings = r.stderr.toString().split('\n').filter((l) => l.includes('dynamic config var'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('dynamic config var LOST from the aws-ssm source failed');
      if (!existsSync(path.join(ROOT, 'dist/source-aws-ssm.cjs'))) expect(warnings[0]).toContain('the aws-ssm source is not part of this build of the entrypoint');
    } finally {
      await fake.stop();
    }
  });

  it('prints its version, the Node inside it and the target', async () => {
    const r = await run(['--version'], { bin: BINARY });
    expect(r.code).toBe(0);
    // `npm run build:binary` embeds the Node that runs the build, this machine's: the one running this test.
    expect(r.stdout.toString()).toBe(`waypoint-entrypoint ${VERSION} (node ${process.version}, ${process.platform}-${process.arch})\n`);
  });

  it('passes the app stdout through byte for byte', async () => {
    const payload = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(64 * 1024)]);
    const file = path.join(tempDir('payload'), 'payload.bin');
    writeFileSync(file, payload);
    const r = await run(['cat', file], { bin: BINARY });
    expect(r.code).toBe(0);
    expect(r.stdout.equals(payload)).toBe(true);
  });

  it('forwards SIGTERM to the app, which traps it', async () => {
    const app = start(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done'], {
      bin: BINARY,
    });
    await app.waitForOutput('ready\n');
    app.proc.kill('SIGTERM');
    const exit = await withDeadline(app.exited, 10_000, 'the binary to exit');
    expect(exit.code).toBe(7);
    expect(app.stdout().toString()).toBe('ready\ngot-term\n');
  });

  describe('NODE_OPTIONS is the app’s, not ours', () => {
    const printNodeOptions = ['sh', '-c', 'printf "[%s]\\n" "${NODE_OPTIONS-unset}"'];

    it('a --require of a missing file neither crashes us nor changes on its way to the app', async () => {
      const r = await run(printNodeOptions, { bin: BINARY, env: cleanEnv({ NODE_OPTIONS: '--require /nonexistent.js' }) });
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe('[--require /nonexistent.js]\n');
      expect(r.stderr.toString()).toBe('');
    });

    it('a --require of an existing file does not run inside us', async () => {
      const preload = path.join(tempDir('preload'), 'preload.cjs');
      writeFileSync(preload, "require('node:fs').writeSync(1, 'PRELOADED\\n');\n");
      const env = cleanEnv({ NODE_OPTIONS: `--require ${preload}` });
      const sh = await run(['sh', '-c', 'echo app'], { bin: BINARY, env });
      expect(sh.code).toBe(0);
      expect(sh.stdout.toString()).toBe('app\n');
      // ...but it does in a node app behind us: the variable reached it intact.
      const node = await run([process.execPath, '-e', 'console.log("app")'], { bin: BINARY, env });
      expect(node.stdout.toString()).toBe('PRELOADED\napp\n');
    });
  });

  it('as PID 1 of a new PID namespace, exits with the app code (reaper loaded from the binary)', async () => {
    const r = await run(['--pid', '--fork', '--mount-proc', BINARY, 'sh', '-c', 'exit 3'], { bin: '/usr/bin/unshare' });
    expect(r.code).toBe(3);
    expect(r.stderr.toString()).not.toContain(REAPER_OFF);
  });

  it('runs the app on a terminal of its own when on a terminal (pty addon loaded from the binary)', async () => {
    const term = pty.spawn(BINARY, ['tty'], {
      name: 'xterm',
      cols: 80,
      rows: 24,
      cwd: os.tmpdir(),
      env: cleanEnv({ TERM: 'xterm' }) as Record<string, string>,
    });
    terminals.push(term);
    let out = '';
    term.onData((d) => (out += d));
    const exited = new Promise<number>((resolve) => term.onExit(({ exitCode }) => resolve(exitCode)));
    expect(await withDeadline(exited, 10_000, 'the binary on a terminal to exit')).toBe(0);
    await waitFor(() => /\/dev\/pts\/\d+/.test(out), { timeoutMs: 2_000, what: () => `a /dev/pts/N line in ${JSON.stringify(out)}` });
  });

  it('leaves no unpacked addon behind in its tmpdir', async () => {
    const tmp = tempDir('tmpdir');
    const env = cleanEnv({ TMPDIR: tmp, WAYPOINT_CEB_SUBREAPER: '1' });
    for (const code of [0, 5]) {
      const r = await run(['sh', '-c', `exit ${code}`], { bin: lonely, cwd: lonelyDir, env });
      expect(r.code).toBe(code);
      expect(r.stderr.toString()).not.toContain(REAPER_OFF);
    }
    expect(readdirSync(tmp)).toEqual([]);
    expect(readdirSync(lonelyDir)).toEqual(['waypoint-entrypoint']);
  });

  // The addons load as unnamed files (O_TMPFILE) through /proc/self/fd; without /proc (or
  // O_TMPFILE) they take the named way: a private directory, the file, both deleted at once.
  it.skipIf(!isRoot)('without /proc (root: private mount namespace), loads its addons the named way and leaves nothing behind', async () => {
    const tmp = tempDir('no-proc');
    const env = cleanEnv({ TMPDIR: tmp, WAYPOINT_CEB_SUBREAPER: '1' });
    const script = 'set -e; mount -t tmpfs tmpfs /proc; exec "$@"';
    const r = await run(['--mount', 'sh', '-c', script, 'sh', lonely, 'sh', '-c', 'exit 5'], { bin: '/usr/bin/unshare', cwd: lonelyDir, env });
    expect(r.stderr.toString()).not.toContain(REAPER_OFF);
    expect(r.code).toBe(5);
    expect(readdirSync(tmp)).toEqual([]);
  });

  // A noexec tmpdir (/dev/shm or a hardened /tmp in containers): mounted in a private mount
  // namespace, so it disappears with the test's process whatever happens.
  describe.skipIf(!isRoot)('with a noexec tmpdir (root: private mount namespace)', () => {
    /** Mounts a noexec tmpfs on $1, optionally makes $2 (the binary's dir) read-only, runs the rest. */
    const SCRIPT = [
      'set -e',
      'mount -t tmpfs -o noexec tmpfs "$1"',
      'if [ "$2" = ro ]; then mount --bind "$3" "$3"; mount -o remount,ro,bind "$3"; fi',
      'shift 3',
      'exec "$@"',
    ].join('\n');

    function inMountNamespace(noexecDir: string, binaryDirMode: 'rw' | 'ro', argv: string[], env: NodeJS.ProcessEnv) {
      return run(['--mount', 'sh', '-c', SCRIPT, 'sh', noexecDir, binaryDirMode, lonelyDir, ...argv], {
        bin: '/usr/bin/unshare',
        cwd: lonelyDir,
        env,
      });
    }

    it('falls back to the binary’s directory, and cleans up there', async () => {
      const noexec = tempDir('noexec');
      const env = cleanEnv({ TMPDIR: noexec, WAYPOINT_CEB_SUBREAPER: '1' });
      const r = await inMountNamespace(noexec, 'rw', [lonely, 'sh', '-c', 'exit 4'], env);
      expect(r.stderr.toString()).not.toContain(REAPER_OFF);
      expect(r.code).toBe(4);
      expect(readdirSync(lonelyDir)).toEqual(['waypoint-entrypoint']);
    });

    it('says clearly which directories failed when none will do, and still runs the app', async () => {
      const noexec = tempDir('noexec');
      const env = cleanEnv({ TMPDIR: noexec, WAYPOINT_CEB_NATIVE_DIR: noexec, WAYPOINT_CEB_SUBREAPER: '1' });
      const r = await inMountNamespace(noexec, 'ro', [lonely, 'sh', '-c', 'echo out; exit 6'], env);
      expect(r.code).toBe(6);
      expect(r.stdout.toString()).toBe('out\n');
      const err = r.stderr.toString();
      expect(err).toContain(REAPER_OFF);
      expect(err).toContain('cannot load the posix addon');
      expect(err).toContain('WAYPOINT_CEB_NATIVE_DIR');
      expect(err).toContain(noexec);
      expect(err).toContain(lonelyDir);
      // Disabled mode hands the app our own stdout and stderr, with or without the addon.
      expect(err).not.toContain('socket pairs');
    });

    it('relaying the output without the addon, says it goes through socket pairs', async () => {
      const noexec = tempDir('noexec');
      const env = cleanEnv({
        TMPDIR: noexec,
        WAYPOINT_CEB_NATIVE_DIR: noexec,
        // Connected mode, no server to reach: the output is relayed, fail-open.
        WAYPOINT_SERVER_ADDR: '127.0.0.1:1',
        WAYPOINT_CEB_CONNECT_TIMEOUT: '0',
      });
      const r = await inMountNamespace(noexec, 'ro', [lonely, 'sh', '-c', 'echo out; exit 6'], env);
      expect(r.code).toBe(6);
      expect(r.stdout.toString()).toBe('out\n');
      expect(r.stderr.toString()).toContain('app output goes through socket pairs, not pipes: the native addon did not load');
    });
  });
});
