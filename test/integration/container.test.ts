// The linux-x64 release binary (dist/release, `npm run release`) as the ENTRYPOINT of a real
// image, put there two ways: a COPY onto the rig's Debian 11 base
// (test/fixtures/containers/entrypoint.Containerfile), and `waypoint-ctl image inject` of that
// base in a registry of the rig;
// run by podman (test/helpers/containers.ts): PID 1, exit codes, `podman stop` and the stop
// timeout, `podman run -it`, and connected (--network host) to the reference server started
// here on 127.0.0.1: config, logs, exec with and without a terminal. Each test names one behaviour.
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { envFlags, openPodman, type Podman, uniqueName } from '../helpers/containers.js';
import { execOnTerminal, execWithoutTerminal, expectExecErrors, expectLogsAtServer, expectNoWarnings, startConnected } from '../helpers/release-connected.js';
import { RELEASE_DIR, requireRelease } from '../helpers/release-dist.js';
import { skopeoPush, startRegistry, stopRegistries } from '../helpers/registry.js';
import { cleanEnv, FIXTURES, killAll, ROOT, run, withDeadline } from '../helpers/run.js';
import { stopServers } from '../helpers/server.js';
import { closeTerminals } from '../helpers/terminal.js';

const DEADLINE = 30_000;
/** The two ways the binary gets into an image: a Containerfile's COPY, and `image inject`. */
const COPIED = 'localhost/wp-test/entrypoint:x64';
let injected: string;
let podman: Podman;

beforeAll(async () => {
  requireRelease('linux-x64');
  podman = await openPodman();
  await podman.build(COPIED, RELEASE_DIR, { file: path.join(FIXTURES, 'containers/entrypoint.Containerfile') });
  injected = await injectedBase(podman);
  await podman.keepImages();
}, 600_000);

afterEach(async () => {
  closeTerminals();
  killAll();
  await podman?.cleanUp();
  await stopServers();
});

afterAll(async () => {
  await podman?.destroy();
});

/**
 * The base image with the entrypoint added by `waypoint-ctl image inject`: pushed to a registry
 * of the rig, injected there, pulled back; kept for the file.
 */
async function injectedBase(p: Podman): Promise<string> {
  const registry = await startRegistry();
  try {
    const pushed = await skopeoPush(`${registry.addr}/base:11`);
    if (pushed.code !== 0) throw new Error(`skopeo push: ${pushed.stderr.toString()}`);
    const ref = `${registry.addr}/base:injected`;
    const r = await run(['image', 'inject', '--insecure', '--binary-dir', RELEASE_DIR, `${registry.addr}/base:11`, ref], {
      bin: path.join(ROOT, 'bin/waypoint-ctl'),
      env: cleanEnv(),
      timeoutMs: 120_000,
    });
    if (r.code !== 0) throw new Error(`image inject: ${r.stderr.toString()}`);
    await p.must(['pull', '--quiet', '--tls-verify=false', ref], { timeoutMs: 120_000 });
    await p.keepImages();
    return ref;
  } finally {
    await stopRegistries();
  }
}

describe.each([
  ['COPY in a Containerfile', () => COPIED],
  ['waypoint-ctl image inject', () => injected],
])('the release binary as the ENTRYPOINT of an image (%s), under podman', (_how, image) => {
  /** `podman run --rm` of the image with no network, to completion. */
  function runImage(argv: string[], flags: string[] = []) {
    return podman.run(['run', '--rm', '--network', 'none', ...flags, image(), ...argv], { timeoutMs: DEADLINE });
  }

  /** `podman run --rm --name NAME` of the image with no network, attached; its name. */
  function startImage(argv: string[], flags: string[] = []) {
    const name = uniqueName('wp-test');
    return { name, r: podman.start(['run', '--rm', '--name', name, '--network', 'none', ...flags, image(), ...argv]) };
  }

  it('is PID 1, with the app as its child', async () => {
    const r = await runImage(['sh', '-c', 'echo "ppid=$PPID"; [ $$ != 1 ] && echo "app is not pid 1"; tr "\\0" " " </proc/1/cmdline']);
    expect({ code: r.code, stderr: r.stderr.toString() }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.toString()).toMatch(/^ppid=1\napp is not pid 1\n\/waypoint-entrypoint sh -c /);
  }, DEADLINE);

  it('passes the app’s exit code through as the container’s: 0, 3, and 127 with one line for a missing command', async () => {
    for (const [argv, code] of [[['true'], 0], [['sh', '-c', 'exit 3'], 3]] as const) {
      const r = await runImage([...argv]);
      expect({ code: r.code, stderr: r.stderr.toString() }).toEqual({ code, stderr: '' });
    }
    const missing = await runImage(['no-such-command']);
    expect({ code: missing.code, stderr: missing.stderr.toString() }).toEqual({
      code: 127,
      stderr: 'waypoint-entrypoint: error: no-such-command: command not found\n',
    });
  }, 3 * DEADLINE);

  it('passes podman stop’s SIGTERM to the app, whose trap decides the container’s exit code', async () => {
    const { name, r } = startImage(['sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done']);
    await r.waitForOutput('ready\n', { timeoutMs: DEADLINE });
    await podman.must(['stop', '--time', '20', name], { timeoutMs: DEADLINE });
    expect(await withDeadline(r.exited, DEADLINE, 'podman run to exit')).toEqual({ code: 7, signal: null });
    expect(r.stdout().toString()).toBe('ready\ngot-term\n');
  }, 2 * DEADLINE);

  it('SIGKILLs the app’s process group, grandchild too, once WAYPOINT_CEB_STOP_TIMEOUT runs out before the app’s TERM handling', async () => {
    // In its own PID namespace everything dies with PID 1 anyway; to see that the entrypoint killed
    // the group itself, a watcher in a session of its own (outside the group) reports the
    // grandchild's death while PID 1 still runs: it writes to the app's stdout, which the
    // entrypoint relays (connected mode, no server to reach) until it goes quiet.
    const app = [
      'sleep 1000 & G=$!',
      'setsid sh -c \'while kill -0 "$0" 2>/dev/null; do echo watching; sleep 0.02; done; echo grandchild-gone\' "$G" &',
      'trap "echo got-term; sleep 60; echo term-handled; exit 0" TERM',
      'echo ready',
      'while :; do sleep 0.05; done',
    ].join('\n');
    const settings = { WAYPOINT_SERVER_ADDR: '127.0.0.1:1', WAYPOINT_CEB_CONNECT_TIMEOUT: '0', WAYPOINT_CEB_STOP_TIMEOUT: '1s' };
    const { name, r } = startImage(['sh', '-c', app], envFlags(settings));
    await r.waitForOutput('ready\n', { timeoutMs: DEADLINE });
    await podman.must(['stop', '--time', '60', name], { timeoutMs: DEADLINE });
    expect(await withDeadline(r.exited, DEADLINE, 'podman run to exit')).toEqual({ code: 128 + 9, signal: null });
    expect(r.stdout().toString().split('\n').filter((l) => l !== 'watching')).toEqual(['ready', 'got-term', 'grandchild-gone', '']);
    expect(r.stderr().toString()).toMatch(/warn: app did not stop in time; sending SIGKILL to its process group/);
  }, 2 * DEADLINE);

  it('under podman run -it, gives the app a terminal of its own with the window size', async () => {
    const t = podman.terminal(['run', '--rm', '-it', '--network', 'none', image(), 'sh', '-c', 'tty; stty size; exit 6'], { cols: 91, rows: 27 });
    expect(await withDeadline(t.exited, DEADLINE, 'podman run -it to exit')).toBe(6);
    expect(t.output()).toMatch(/^\/dev\/pts\/\d+\r\n27 91\r\n$/);
  }, 2 * DEADLINE);

  it('connected (--network host) to the server outside: config reaches the app, logs reach the server, exec runs with and without a terminal', async () => {
    const connected = await startConnected(
      (argv, env) => podman.start(['run', '--rm', '--name', uniqueName('wp-test'), '--network', 'host', ...envFlags(env), image(), ...argv]),
      DEADLINE,
    );
    await expectLogsAtServer(connected, DEADLINE);
    expect(await execWithoutTerminal(connected, 'echo "debian $(cat /etc/debian_version)"; echo to-err >&2; exit 5', DEADLINE)).toEqual({
      code: 5,
      stdout: expect.stringMatching(/^debian 11\.\d+\n$/),
      stderr: 'to-err\n',
    });
    const shown = await execOnTerminal(connected, 'cat /etc/debian_version; echo "pid1=$(tr "\\0" " " </proc/1/cmdline)"', DEADLINE);
    expect(shown).toMatch(/\n11\.\d+\r?\n/);
    expect(shown).toMatch(/\npid1=\/waypoint-entrypoint sh -c /);
    await expectExecErrors(connected, DEADLINE);
    expectNoWarnings(connected);
  }, 5 * DEADLINE);
});
