// The rig's registries (test/helpers/registry.ts), as the image tests use them: Debian's
// docker-registry on 127.0.0.1, anonymous and with htpasswd Basic auth; the base image pushed
// into them with skopeo (plain HTTP) and pulled back and run with podman.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BASE_IMAGE, openPodman, type Podman, requireTools } from '../helpers/containers.js';
import { registryGet as get, skopeoPush, startRegistry, stopRegistries } from '../helpers/registry.js';
import { killAll } from '../helpers/run.js';

const DEADLINE = 120_000;
let podman: Podman;

beforeAll(async () => {
  requireTools(['skopeo', 'docker-registry', 'htpasswd']);
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

describe('the container rig’s registries', () => {
  it('takes the base image from skopeo, and podman pulls it back and runs it: the same image, Debian 11', async () => {
    const registry = await startRegistry();
    const ref = `${registry.addr}/wp-test/debian:11`;
    const pushed = await skopeoPush(ref);
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

    const wrong = await skopeoPush(ref, { creds: 'wp:wrong-password' });
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr.toString()).toMatch(/unauthorized: authentication required/);
    const right = await skopeoPush(ref, { creds: 'wp:right-password' });
    expect(right.code, right.stderr.toString()).toBe(0);

    expect((await get(registry.addr, '/v2/wp-test/debian/tags/list')).status).toBe(401);
    expect(await get(registry.addr, '/v2/wp-test/debian/tags/list', 'wp:right-password')).toEqual({
      status: 200,
      body: '{"name":"wp-test/debian","tags":["11"]}\n',
    });
  }, 3 * DEADLINE);
});
