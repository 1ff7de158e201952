// What the tests that run the entrypoint against the fake Waypoint (fake-waypoint.ts) share: an
// invite the fake exchanges for a token, the env that points an entrypoint at a fake with it, a
// temp dir per test file, and the cleanup after each test (every process started is killed,
// every fake stopped) and after the file (the dir removed).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach } from 'vitest';
import { type FakeOptions, type FakeScript, type FakeWaypoint, startFake } from './fake-waypoint.js';
import { cleanEnv, killAll } from './run.js';

export interface FakeFixture {
  /** The invite an entrypoint starts with; the fake exchanges it for `token`. */
  readonly invite: string;
  readonly token: string;
  /** The test file's temp dir: made at first use, removed after the file's last test. */
  readonly dir: string;
  /** A fake that knows the invite (then `script`), stopped after the test. */
  fake(script?: Partial<FakeScript>, options?: FakeOptions): Promise<FakeWaypoint>;
  /** A clean env that points an entrypoint at `addr` with the invite (deployment D1), then `extra`. */
  env(addr: string, extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
}

/** Call once at the top of a test file: `name` tells its invite, token and temp dir apart. */
export function fakeFixture(name: string): FakeFixture {
  const invite = `invite-${name}-secret`;
  const token = `token-${name}-secret`;
  const fakes: FakeWaypoint[] = [];
  let dir: string | undefined;

  afterEach(async () => {
    killAll(); // every entrypoint started, with its app and exec sessions
    for (const f of fakes.splice(0)) await f.stop();
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  return {
    invite,
    token,
    get dir() {
      dir ??= mkdtempSync(path.join(os.tmpdir(), `wp-${name}-`));
      return dir;
    },
    async fake(script = {}, options = {}) {
      const f = await startFake({ invites: { [invite]: token }, ...script }, options);
      fakes.push(f);
      return f;
    },
    env: (addr, extra = {}) =>
      cleanEnv({ WAYPOINT_SERVER_ADDR: addr, WAYPOINT_DEPLOYMENT_ID: 'D1', WAYPOINT_CEB_INVITE_TOKEN: invite, ...extra }),
  };
}
