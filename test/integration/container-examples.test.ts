// examples/: both Dockerfiles built by podman (test/helpers/containers.ts) from the repository,
// with the release binary (dist/release, `npm run release`), and run: HTTP answered, a clean
// `podman stop`, and hello connected to the reference server, reached through its ingress. Their
// FROM images cannot be pulled here (no registry): `podman build --from` puts local stand-ins in
// their place, the rig's Debian 11 base (with Node for hello: node.Containerfile). The python
// example's `apt-get install python3` needs Debian's mirror, as debootstrap does for the base.
// And the systemd unit, checked by systemd-analyze verify.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BASE_IMAGE, envFlags, openPodman, type Podman, requireTools, uniqueName } from '../helpers/containers.js';
import { releaseBinary, requireRelease } from '../helpers/release-dist.js';
import { nodePackage, tempDir } from '../helpers/release-env.js';
import { FIXTURES, killAll, ROOT, waitFor, withDeadline } from '../helpers/run.js';
import { freePort, startServer, stopServers, type TestServer } from '../helpers/server.js';
import { hostOf, ingressRequest } from '../helpers/url-apps.js';

const DEADLINE = 30_000;
const HELLO = 'localhost/wp-test/example-hello';
const PYTHON = 'localhost/wp-test/example-python-http';

afterEach(async () => {
  killAll();
  await stopServers();
});

/** GET http://127.0.0.1:PORT/: status and body. */
function get(port: number): Promise<{ status: number; body: string }> {
  return withDeadline(
    new Promise((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        })
        .on('error', reject);
    }),
    DEADLINE,
    `GET http://127.0.0.1:${port}/`,
  );
}

/** `waypoint-ctl url --app APP --json`: how many instances serve the app's URL. */
async function serving(server: TestServer, app: string): Promise<number> {
  const r = await server.ctl(['url', '--app', app, '--json']);
  if (r.code !== 0) return -1;
  const urls = JSON.parse(r.stdout.toString()) as { deployment_id: string | null; instances: number }[];
  return urls.find((u) => u.deployment_id === null)?.instances ?? 0;
}

describe('examples/*/Dockerfile, built and run by podman', () => {
  let podman: Podman;

  beforeAll(async () => {
    requireRelease('linux-x64');
    podman = await openPodman();
    const node = 'localhost/wp-test/node:stand-in';
    await podman.build(node, await nodePackage('linux-x64'), { file: path.join(FIXTURES, 'containers/node.Containerfile') });
    await podman.build(HELLO, ROOT, { file: path.join(ROOT, 'examples/hello/Dockerfile'), from: node });
    await podman.build(PYTHON, ROOT, { file: path.join(ROOT, 'examples/python-http/Dockerfile'), from: BASE_IMAGE });
    await podman.keepImages();
  }, 600_000);

  afterEach(async () => {
    killAll();
    await podman?.cleanUp();
  });

  afterAll(async () => {
    await podman?.destroy();
  });

  /** The image run attached on the host's network with PORT free and `env`: name, port, client. */
  async function startExample(image: string, env: NodeJS.ProcessEnv = {}) {
    const name = uniqueName('wp-example');
    const port = await freePort();
    const r = podman.start(['run', '--rm', '--name', name, '--network', 'host', ...envFlags({ PORT: String(port), ...env }), image]);
    return { name, port, r };
  }

  it('hello: answers HTTP as the node user under the entrypoint, and podman stop ends it through its SIGTERM handler with 0', async () => {
    const { name, port, r } = await startExample(HELLO);
    await r.waitForOutput(`hello: listening on http://127.0.0.1:${port}\n`, { timeoutMs: DEADLINE });
    expect(await get(port)).toEqual({ status: 200, body: 'hello from an unconnected app (request #1)\n' });
    const who = await podman.must(['exec', name, 'sh', '-c', 'id -un; tr "\\0" " " </proc/1/cmdline']);
    expect(who).toBe('node\n/waypoint-entrypoint node server.js ');

    await podman.must(['stop', '--time', '20', name], { timeoutMs: DEADLINE });
    expect(await withDeadline(r.exited, DEADLINE, 'podman run to exit')).toEqual({ code: 0, signal: null });
    expect(r.stdout().toString()).toMatch(/ GET \/ \(#1\)\nhello: SIGTERM, shutting down\n$/);
    expect(r.stderr().toString()).toBe('');
  }, 3 * DEADLINE);

  it('python-http: python3 -m http.server answers HTTP with its page, and podman stop ends it by SIGTERM with 143, not killed', async () => {
    const { name, port, r } = await startExample(PYTHON);
    await r.waitForOutput(`Serving HTTP on 0.0.0.0 port ${port}`, { timeoutMs: DEADLINE });
    const page = await get(port);
    expect(page.status).toBe(200);
    expect(page.body).toBe(readFileSync(path.join(ROOT, 'examples/python-http/public/index.html'), 'utf8'));
    await waitFor(() => r.stderr().toString().includes('"GET / HTTP/1.1" 200 -'), { what: () => `python's request line; stderr: ${r.stderr().toString()}` });

    await podman.must(['stop', '--time', '20', name], { timeoutMs: DEADLINE });
    expect(await withDeadline(r.exited, DEADLINE, 'podman run to exit')).toEqual({ code: 128 + 15, signal: null });
    expect(r.stderr().toString()).not.toMatch(/waypoint-entrypoint/);
  }, 3 * DEADLINE);

  it('hello connected (--network host) to the server: its URL answers through the server’s ingress', async () => {
    const server = await startServer();
    const { deploymentId, inviteToken } = await server.createDeployment('hello');
    const { port, r } = await startExample(HELLO, {
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
    });
    // The tunnel can register before node listens: a request then would be answered 502.
    await r.waitForOutput(`hello: listening on http://127.0.0.1:${port}\n`, { timeoutMs: DEADLINE });
    await waitFor(async () => (await serving(server, 'hello')) === 1, {
      timeoutMs: DEADLINE,
      what: () => `hello's tunnel to register; stderr: ${r.stderr().toString().slice(-500)}`,
    });
    const answer = await ingressRequest(server, hostOf(server, 'hello'), { path: '/' });
    expect({ status: answer.status, body: answer.body.toString() }).toEqual({ status: 200, body: `hello from ${deploymentId} (request #1)\n` });
  }, 3 * DEADLINE);
});

/** `value` of a systemd time span made of seconds or milliseconds ("25s", "500ms"), in ms. */
function spanMs(value: string): number {
  const m = /^(\d+)(ms|s)$/.exec(value);
  if (!m) throw new Error(`a time span this test does not read: ${value}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

describe('examples/hello/hello.service', () => {
  const UNIT = path.join(ROOT, 'examples/hello/hello.service');

  it('passes systemd-analyze verify, with its binaries and the system’s units in place', () => {
    requireTools(['systemd-analyze']);
    const [root, remove] = tempDir('wp-unit-');
    try {
      // A root for --root: the unit, the binaries its ExecStart names, the units it depends on.
      const place = (from: string, to: string) => {
        mkdirSync(path.dirname(path.join(root, to)), { recursive: true });
        try {
          linkSync(from, path.join(root, to));
        } catch {
          cpSync(from, path.join(root, to));
        }
      };
      place(UNIT, '/etc/systemd/system/hello.service');
      place(requireRelease('linux-x64'), '/usr/local/bin/waypoint-entrypoint');
      place(process.execPath, '/usr/bin/node');
      const units = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => existsSync(path.join(d, 'multi-user.target')));
      if (!units) throw new Error('no systemd units (multi-user.target) on this machine: install systemd');
      cpSync(units, path.join(root, 'usr/lib/systemd/system'), { recursive: true });
      // It exits 0 on a key it ignores or a value it cannot parse: its warnings are the check too.
      const r = spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/hello.service'], { encoding: 'utf8' });
      expect({ status: r.status, stdout: r.stdout, stderr: r.stderr }).toEqual({ status: 0, stdout: '', stderr: '' });
    } finally {
      remove();
    }
  });

  it('is Type=exec with KillMode=mixed, and TimeoutStopSec leaves the stop timeout and the 2 s log flush room', () => {
    const settings = new Map<string, string[]>();
    for (const line of readFileSync(UNIT, 'utf8').split('\n')) {
      const m = /^(\w+)=(.*)$/.exec(line);
      if (m) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
    }
    expect(settings.get('Type')).toEqual(['exec']);
    expect(settings.get('KillMode')).toEqual(['mixed']);
    expect(settings.get('EnvironmentFile')).toEqual(['/etc/hello.env']);
    const stopTimeout = settings.get('Environment')!.map((e) => /^WAYPOINT_CEB_STOP_TIMEOUT=(.*)$/.exec(e)?.[1]).find(Boolean);
    expect(spanMs(settings.get('TimeoutStopSec')![0])).toBeGreaterThan(spanMs(stopTimeout!) + 2000);
  });
});
