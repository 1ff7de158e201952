// The rig's registries (test/helpers/registry.ts), as the image tests use them: Debian's
// docker-registry on 127.0.0.1, anonymous and with htpasswd Basic auth; the base image pushed
// into them with skopeo (plain HTTP) and pulled back and run with podman.
import http from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BASE_IMAGE, baseImageArchive, openPodman, type Podman, requireTools } from '../helpers/containers.js';
import { startRegistry, stopRegistries } from '../helpers/registry.js';
import { cleanEnv, killAll, run } from '../helpers/run.js';

const DEADLINE = 120_000;
let podman: Podman;
let skopeo: string;

beforeAll(async () => {
  ({ skopeo } = requireTools(['skopeo', 'docker-registry', 'htpasswd']));
  podman = await openPodman();
}, 600_000);

afterEach(async () => {
  killAll();
  await stopRegistries();
  await podman?.cleanUp();
});

afterAll(async () => {
  await podman?.destroy();
});

/** `skopeo copy` of the cached base image to docker://REF over plain HTTP, with `creds` if given. */
function pushBase(ref: string, creds?: string) {
  const args = ['copy', '--insecure-policy', '--dest-tls-verify=false', ...(creds ? ['--dest-creds', creds] : [])];
  return run([...args, `oci-archive:${baseImageArchive()}`, `docker://${ref}`], { bin: skopeo, env: cleanEnv(), timeoutMs: DEADLINE });
}

/** GET of a registry API path: status and body. */
function get(addr: string, path: string, auth?: string): Promise<{ status: number; body: string }> {
  const headers = auth ? { Authorization: `Basic ${Buffer.from(auth).toString('base64')}` } : {};
  return new Promise((resolve, reject) => {
    http
      .get(`http://${addr}${path}`, { agent: false, headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('the container rig’s registries', () => {
  it('takes the base image from skopeo, and podman pulls it back and runs it: the same image, Debian 11', async () => {
    const registry = await startRegistry();
    const ref = `${registry.addr}/wp-test/debian:11`;
    const pushed = await pushBase(ref);
    expect(pushed.code, pushed.stderr.toString()).toBe(0);
    expect(await get(registry.addr, '/v2/wp-test/debian/tags/list')).toEqual({ status: 200, body: '{"name":"wp-test/debian","tags":["11"]}\n' });

    await podman.must(['pull', '--quiet', '--tls-verify=false', ref], { timeoutMs: DEADLINE });
    const ids = await podman.must(['image', 'inspect', '--format', '{{.ID}}', BASE_IMAGE, ref]);
    const [local, pulled] = ids.trim().split('\n');
    expect(pulled).toBe(local);
    const r = await podman.run(['run', '--rm', '--network', 'none', ref, 'cat', '/etc/debian_version']);
    expect({ code: r.code, stderr: r.stderr.toString() }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout.toString()).toMatch(/^11\.\d+\n$/);
  }, 3 * DEADLINE);

  it('with htpasswd Basic auth, refuses anonymous and wrong credentials and takes the right ones', async () => {
    const registry = await startRegistry({ users: { wp: 'right-password' } });
    const ref = `${registry.addr}/wp-test/debian:11`;
    expect((await get(registry.addr, '/v2/')).status).toBe(401);

    const wrong = await pushBase(ref, 'wp:wrong-password');
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr.toString()).toMatch(/unauthorized: authentication required/);
    const right = await pushBase(ref, 'wp:right-password');
    expect(right.code, right.stderr.toString()).toBe(0);

    expect((await get(registry.addr, '/v2/wp-test/debian/tags/list')).status).toBe(401);
    expect(await get(registry.addr, '/v2/wp-test/debian/tags/list', 'wp:right-password')).toEqual({
      status: 200,
      body: '{"name":"wp-test/debian","tags":["11"]}\n',
    });
  }, 3 * DEADLINE);
});
