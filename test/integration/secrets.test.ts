// M1: the invite token is erased from our own environment block at start. The app runs under our
// uid and can read /proc/<entrypoint pid>/environ; holding the invite it could register as this
// deployment and read its internal config. Checked on the bundle and, when it was built, on the
// single binary (its native addon comes from a SEA asset).
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fakeFixture } from '../helpers/fake-fixture.js';
import { childPids } from '../helpers/proc.js';
import { BINARY, ENTRYPOINT, type Running, start, waitFor } from '../helpers/run.js';

const fx = fakeFixture('secrets');

function environ(pid: number): string {
  return readFileSync(`/proc/${pid}/environ`, 'latin1');
}

/** The entrypoint (bundle or binary) connected with an invite; resolves once the app runs with its config. */
async function launch(bin: string): Promise<{ r: Running; app: number }> {
  const f = await fx.fake();
  const r = start(['sh', '-c', 'echo "app sees MY_VAR=$MY_VAR FROM_FAKE=$FROM_FAKE invite=${WAYPOINT_CEB_INVITE_TOKEN:-none}"; exec sleep 30'], {
    bin,
    env: fx.env(f.addr, { MY_VAR: 'kept' }),
  });
  await r.waitForOutput('app sees ');
  await waitFor(() => childPids(r.pid).length === 1, { what: () => 'the app' });
  return { r, app: childPids(r.pid)[0] };
}

function check({ r, app }: { r: Running; app: number }): void {
  expect(r.stdout().toString()).toContain('app sees MY_VAR=kept FROM_FAKE=yes invite=none');
  // Nor in the bytes of the block: the kernel shows what is in memory, not what environ points to.
  for (const pid of [r.pid, app]) {
    const block = environ(pid);
    expect(block).not.toContain(fx.invite);
    expect(block).not.toContain('WAYPOINT_CEB_INVITE_TOKEN=');
  }
  expect(environ(r.pid)).toContain('MY_VAR=kept');
  expect(environ(app)).toContain('MY_VAR=kept');
  expect(r.stderr().toString()).not.toContain(fx.invite);
}

describe('M1: the invite token in /proc/<pid>/environ', () => {
  it('M1: the invite token is gone from the environ of the entrypoint and of the app; the app still gets its env', async () => {
    check(await launch(ENTRYPOINT));
  });

  it.skipIf(!existsSync(BINARY))('M1: the single binary erases it too (its addon from a SEA asset)', async () => {
    check(await launch(BINARY));
  });
});
