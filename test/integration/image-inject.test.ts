// `waypoint-ctl image inject` against the real parts of the container rig: Debian's registry on
// 127.0.0.1 (anonymous and with htpasswd Basic auth), OCI layouts and docker archives written
// and read by skopeo and podman, and the injected images run by podman: the entrypoint is PID 1,
// exit codes and `podman stop` pass through. Injecting twice gives the same digest; an injected
// image is left as it is; each platform of an index gets the binary of its own architecture.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tarEntries } from '../helpers/images.js';
import { baseImageArchive, openPodman, type Podman, requireTools, uniqueName } from '../helpers/containers.js';
import { RELEASE_DIR, requireRelease } from '../helpers/release-dist.js';
import { skopeoPush, startRegistry, stopRegistries, type TestRegistry } from '../helpers/registry.js';
import { cleanEnv, killAll, ROOT, run, withDeadline } from '../helpers/run.js';

const DEADLINE = 120_000;
const CTL = path.join(ROOT, 'bin/waypoint-ctl');
let podman: Podman;
let dir: string;

beforeAll(async () => {
  requireRelease('linux-x64');
  requireRelease('linux-arm64');
  requireTools(['skopeo', 'docker-registry', 'htpasswd']);
  podman = await openPodman();
}, 600_000);

beforeEach(() => {
  // Lower-case: podman names an image pulled from an OCI layout after the layout's path.
  dir = path.join(os.tmpdir(), uniqueName('wp-inject').toLowerCase());
  mkdirSync(dir);
});

afterEach(async () => {
  killAll();
  await stopRegistries();
  await podman?.cleanUp();
  rmSync(dir, { recursive: true, force: true });
});

afterAll(async () => {
  await podman?.destroy();
});

/** `waypoint-ctl image inject ARGS`: exit code, the digest it printed, what it said. */
async function inject(args: string[], env: NodeJS.ProcessEnv = {}) {
  const r = await run(['image', 'inject', '--binary-dir', RELEASE_DIR, ...args], { bin: CTL, env: cleanEnv({ HOME: dir, ...env }), timeoutMs: DEADLINE });
  return { code: r.code, digest: r.stdout.toString().trim(), stderr: r.stderr.toString() };
}

function skopeo(args: string[]) {
  const { skopeo: bin } = requireTools(['skopeo']);
  return run(['--insecure-policy', ...args], { bin, env: cleanEnv(), timeoutMs: DEADLINE });
}

async function skopeoMust(args: string[]): Promise<string> {
  const r = await skopeo(args);
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

/** PID 1 is the entrypoint, the app its child, and the app's exit code is the container's. */
async function expectEntrypointRuns(image: string): Promise<void> {
  const r = await podman.run(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'echo "ppid=$PPID"; tr "\\0" " " </proc/1/cmdline; exit 3'], {
    timeoutMs: DEADLINE,
  });
  expect({ code: r.code, stderr: r.stderr.toString() }).toEqual({ code: 3, stderr: '' });
  expect(r.stdout.toString()).toMatch(/^ppid=1\n\/waypoint-entrypoint sh -c /);
}

/** ELF e_machine: 0x3e x86-64, 0xb7 AArch64. */
const ELF_MACHINE: Record<string, number> = { amd64: 0x3e, arm64: 0xb7 };

describe('image inject, a registry', () => {
  let registry: TestRegistry;
  beforeEach(async () => {
    registry = await startRegistry();
    const pushed = await skopeoPush(`${registry.addr}/app:base`);
    expect(pushed.code, pushed.stderr.toString()).toBe(0);
  });

  it('injects an image in the registry; podman pulls it and runs it: the entrypoint is PID 1, exit codes and podman stop pass through', async () => {
    const done = await inject(['--insecure', `${registry.addr}/app:base`, `docker://${registry.addr}/app:wp`]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(done.stderr).toMatch(/linux\/amd64: entrypoint layer sha256:[0-9a-f]{12}… \(\d+\.\d MiB\) added/);
    const image = `${registry.addr}/app:wp`;
    await podman.must(['pull', '--quiet', '--tls-verify=false', image], { timeoutMs: DEADLINE });
    const config = JSON.parse(await podman.must(['image', 'inspect', '--format', '{{json .Config}}', image]));
    expect({ Entrypoint: config.Entrypoint, Cmd: config.Cmd }).toEqual({ Entrypoint: ['/waypoint-entrypoint'], Cmd: ['bash'] });
    await expectEntrypointRuns(image);

    const name = uniqueName('wp-inject');
    const r = podman.start(['run', '--rm', '--name', name, '--network', 'none', image, 'sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done']);
    await r.waitForOutput('ready\n', { timeoutMs: DEADLINE });
    await podman.must(['stop', '--time', '20', name], { timeoutMs: DEADLINE });
    expect(await withDeadline(r.exited, DEADLINE, 'podman run to exit')).toEqual({ code: 7, signal: null });
    expect(r.stdout().toString()).toBe('ready\ngot-term\n');
  }, 4 * DEADLINE);

  it('gives the same digest when injected twice, and leaves an injected image as it is: one entrypoint layer', async () => {
    const first = await inject(['--insecure', `${registry.addr}/app:base`, `${registry.addr}/app:wp`]);
    const second = await inject(['--insecure', `${registry.addr}/app:base`, `${registry.addr}/other:wp`]);
    expect([first.code, second.code]).toEqual([0, 0]);
    expect(second.digest).toBe(first.digest);
    const again = await inject(['--insecure', `${registry.addr}/app:wp`, `${registry.addr}/app:wp-again`]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.digest).toBe(first.digest);
    expect(again.stderr).toContain('already has the entrypoint (its Entrypoint starts with /waypoint-entrypoint): copied as it is');
    const base = JSON.parse(await skopeoMust(['inspect', '--tls-verify=false', `docker://${registry.addr}/app:base`]));
    const injected = JSON.parse(await skopeoMust(['inspect', '--tls-verify=false', `docker://${registry.addr}/app:wp-again`]));
    expect(injected.Layers).toEqual([...base.Layers, expect.stringMatching(/^sha256:/)]);
  }, 4 * DEADLINE);

  it('says what it cannot do in one line: a plain-HTTP registry without --insecure, an image with no platform binary', async () => {
    const tls = await inject([`${registry.addr}/app:base`, `${registry.addr}/app:wp`]);
    expect(tls.code).toBe(1);
    expect(tls.stderr.trim().split('\n')).toHaveLength(1);
    expect(tls.stderr).toContain(`registry ${registry.addr}, repository app: cannot reach https://${registry.addr}`);
    expect(tls.stderr).toContain('pass --insecure');
    const empty = mkdtempSync(path.join(dir, 'bin-'));
    const noBinary = await run(['image', 'inject', '--insecure', '--binary-dir', empty, `${registry.addr}/app:base`, `${registry.addr}/app:wp`], {
      bin: CTL,
      env: cleanEnv({ HOME: dir }),
      timeoutMs: DEADLINE,
    });
    expect(noBinary.code).toBe(1);
    expect(noBinary.stderr.toString()).toMatch(/^waypoint-ctl: no entrypoint binary for linux\/amd64: .*waypoint-entrypoint-linux-x64 is missing/m);
  }, 4 * DEADLINE);
});

describe('image inject, OCI layouts and docker archives', () => {
  it('from an OCI layout to an OCI layout: podman pulls it from there and runs it', async () => {
    const layouts = path.join(dir, 'layouts');
    mkdirSync(layouts);
    await skopeoMust(['copy', `oci-archive:${baseImageArchive()}`, `oci:${layouts}/base:11`]);
    const done = await inject([`oci:${layouts}/base:11`, `oci:${layouts}/out:wp`]);
    expect(done.code, done.stderr).toBe(0);
    const id = (await podman.must(['pull', '--quiet', `oci:${layouts}/out:wp`], { timeoutMs: DEADLINE })).trim();
    expect(id).toMatch(/^[0-9a-f]{64}$/);
    await expectEntrypointRuns(id);
  }, 4 * DEADLINE);

  it('from a docker archive to a docker archive: podman load takes it, tagged as asked, and runs it', async () => {
    await skopeoMust(['copy', `oci-archive:${baseImageArchive()}`, `docker-archive:${dir}/base.tar:wp-test/base:11`]);
    const done = await inject([`docker-archive:${dir}/base.tar`, `docker-archive:${dir}/out.tar:localhost/wp-test/injected:v1`]);
    expect(done.code, done.stderr).toBe(0);
    expect(await podman.must(['load', '--input', `${dir}/out.tar`], { timeoutMs: DEADLINE })).toContain('localhost/wp-test/injected:v1');
    await expectEntrypointRuns('localhost/wp-test/injected:v1');
  }, 4 * DEADLINE);
});

describe('image inject, Basic auth', () => {
  it('wrong credentials: one line naming the registry, the repository, the answer and the login used; the right ones work', async () => {
    const registry = await startRegistry({ users: { wp: 'right-password' } });
    const pushed = await skopeoPush(`${registry.addr}/app:base`, { creds: 'wp:right-password' });
    expect(pushed.code, pushed.stderr.toString()).toBe(0);
    const authFile = path.join(dir, 'auth.json');
    const login = (password: string) =>
      writeFileSync(authFile, JSON.stringify({ auths: { [registry.addr]: { auth: Buffer.from(`wp:${password}`).toString('base64') } } }));

    login('wrong-password');
    const refused = await inject(['--insecure', `${registry.addr}/app:base`, `${registry.addr}/app:wp`], { REGISTRY_AUTH_FILE: authFile });
    expect(refused.code).toBe(1);
    expect(refused.stderr.trim().split('\n')).toHaveLength(1);
    expect(refused.stderr).toContain(`registry ${registry.addr}, repository app: GET manifests/base: the registry answered 401`);
    expect(refused.stderr).toContain(`(as wp, from ${authFile})`);

    const anonymous = await inject(['--insecure', `${registry.addr}/app:base`, `${registry.addr}/app:wp`]);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toContain('the registry asks for a login and none is stored');

    login('right-password');
    const done = await inject(['--insecure', `${registry.addr}/app:base`, `${registry.addr}/app:wp`], { REGISTRY_AUTH_FILE: authFile });
    expect(done.code, done.stderr).toBe(0);
    const inspected = JSON.parse(await skopeoMust(['inspect', '--tls-verify=false', '--creds', 'wp:right-password', '--config', `docker://${registry.addr}/app:wp`]));
    expect(inspected.config.Entrypoint).toEqual(['/waypoint-entrypoint']);
  }, 4 * DEADLINE);
});

/**
 * A Bearer-token registry: this front asks for a token from its own realm (the challenge flow of
 * Docker Hub, GHCR, …), checks it on every call, and passes the call to the real registry.
 */
async function bearerFront(registry: TestRegistry) {
  const token = 'tok-' + uniqueName('t');
  const scopes: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://front');
    if (url.pathname === '/token') {
      scopes.push(`${url.searchParams.get('service')} ${url.searchParams.get('scope')}`);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token }));
      return;
    }
    if (req.headers.authorization !== `Bearer ${token}`) {
      const repo = /^\/v2\/(.+?)\/(?:manifests|blobs|tags)\//.exec(url.pathname)?.[1];
      const scope = repo ? `,scope="repository:${repo}:pull"` : '';
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${front}/token",service="wp-test"${scope}`, 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const [host, port] = registry.addr.split(':');
    const headers = { ...req.headers, host: registry.addr };
    delete headers.authorization;
    const upstream = http.request({ host, port: Number(port), method: req.method, path: req.url, headers }, (up) => {
      // The registry's own upload locations point at it: they must come back to the front.
      const location = up.headers.location?.replace(`http://${registry.addr}`, `http://${front}`);
      res.writeHead(up.statusCode!, { ...up.headers, ...(location ? { location } : {}) });
      up.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const front = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  fronts.push(server);
  return { addr: front, scopes };
}

const fronts: http.Server[] = [];
afterEach(async () => {
  await Promise.all(fronts.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('image inject, Bearer tokens', () => {
  it('asks the realm the registry names for a token per repository and action, then works with it', async () => {
    const registry = await startRegistry();
    const pushed = await skopeoPush(`${registry.addr}/app:base`);
    expect(pushed.code, pushed.stderr.toString()).toBe(0);
    const front = await bearerFront(registry);
    const done = await inject(['--insecure', `${front.addr}/app:base`, `${front.addr}/app:wp`]);
    expect(done.code, done.stderr).toBe(0);
    expect(front.scopes).toEqual(expect.arrayContaining(['wp-test repository:app:pull', 'wp-test repository:app:pull,push']));
    const inspected = JSON.parse(await skopeoMust(['inspect', '--tls-verify=false', '--config', `docker://${registry.addr}/app:wp`]));
    expect(inspected.config.Entrypoint).toEqual(['/waypoint-entrypoint']);
  }, 4 * DEADLINE);
});

describe('image inject, a two-platform index', () => {
  it('gives linux/amd64 and linux/arm64 each the binary of its own architecture', async () => {
    const registry = await startRegistry();
    // Two small images of one file each, one per architecture, in one index.
    const rootfs = path.join(dir, 'rootfs.tar');
    writeFileSync(path.join(dir, 'hello'), 'hello\n');
    await run(['-C', dir, '-cf', rootfs, 'hello'], { bin: '/bin/tar', env: cleanEnv() });
    const index = `localhost/wp-test/multi:${uniqueName('v')}`;
    await podman.must(['manifest', 'create', index]);
    for (const arch of ['amd64', 'arm64']) {
      const tag = `localhost/wp-test/tiny:${arch}`;
      await podman.must(['import', '--arch', arch, '--change', 'CMD ["/hello"]', rootfs, tag]);
      await podman.must(['manifest', 'add', index, `containers-storage:${tag}`]);
    }
    await podman.must(['manifest', 'push', '--all', '--tls-verify=false', index, `docker://${registry.addr}/multi:base`], { timeoutMs: DEADLINE });

    const done = await inject(['--insecure', `${registry.addr}/multi:base`, `${registry.addr}/multi:wp`]);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stderr).toContain('2 of 2 platform(s) injected');

    // Read back with skopeo into a layout of its own, and look into each platform's last layer.
    await skopeoMust(['copy', '--all', '--src-tls-verify=false', `docker://${registry.addr}/multi:wp`, `oci:${dir}/check:wp`]);
    const blob = (digest: string) => readFileSync(path.join(dir, 'check', 'blobs', 'sha256', digest.slice(7)));
    const top = JSON.parse(readFileSync(path.join(dir, 'check', 'index.json'), 'utf8')).manifests[0];
    const entries = JSON.parse(blob(top.digest).toString()).manifests as Array<{ digest: string; platform: { architecture: string } }>;
    expect(entries.map((e) => e.platform.architecture).sort()).toEqual(['amd64', 'arm64']);
    for (const entry of entries) {
      const manifest = JSON.parse(blob(entry.digest).toString());
      const files = await tarEntries(blob(manifest.layers.at(-1).digest));
      const binary = files.get('waypoint-entrypoint')!.content;
      expect(binary.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
      expect({ arch: entry.platform.architecture, machine: binary.readUInt16LE(18) }).toEqual({ arch: entry.platform.architecture, machine: ELF_MACHINE[entry.platform.architecture] });
      const config = JSON.parse(blob(manifest.config.digest).toString());
      expect(config.config.Entrypoint).toEqual(['/waypoint-entrypoint']);
      expect(config.config.Cmd).toEqual(['/hello']);
    }
    expect(readdirSync(path.join(dir, 'check', 'blobs', 'sha256')).length).toBeGreaterThan(5);
  }, 4 * DEADLINE);
});
