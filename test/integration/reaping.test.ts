// Zombie reaping: as PID 1 of a fresh PID namespace, and as a subreaper outside one. Orphans
// must disappear (no `Z` entry left) while the app's own exit status stays exact.
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { cleanEnv, ENTRYPOINT, FIXTURES, killAll, run } from '../helpers/run.js';

const ORPHANS = path.join(FIXTURES, 'orphans.sh');

/** Runs the entrypoint as PID 1 of a new PID namespace with its own /proc (root is needed). */
function asPid1(args: string[], env = cleanEnv()) {
  return run(['--pid', '--fork', '--mount-proc', ENTRYPOINT, ...args], { bin: '/usr/bin/unshare', env });
}

afterEach(killAll);

describe('as PID 1', () => {
  it('reaps orphans that exit, and exits with the app code', async () => {
    const r = await asPid1([ORPHANS, '5', '7']);
    expect(r.stdout.toString()).toContain('all 5 orphans reaped');
    expect(r.code).toBe(7);
  });

  it('keeps the app exit code exact while many orphans exit beside it', async () => {
    for (const code of [0, 3, 42]) {
      const r = await asPid1([ORPHANS, '30', String(code)]);
      expect(r.stdout.toString()).toContain('all 30 orphans reaped');
      expect(r.code).toBe(code);
    }
  });

  it('reports an app killed by a signal as 128+N', async () => {
    const r = await asPid1(['sh', '-c', 'kill -TERM $$']);
    expect(r.code).toBe(143);
  });

  it('forwards SIGTERM to the app, which the kernel would otherwise ignore for PID 1', async () => {
    // The app signals the entrypoint (PID 1 of the namespace) itself and traps the forwarded TERM.
    const r = await asPid1(['sh', '-c', 'trap "exit 23" TERM; kill -TERM 1; while :; do sleep 0.05; done']);
    expect(r.code).toBe(23);
  });
});

describe('as a subreaper (WAYPOINT_CEB_SUBREAPER=1)', () => {
  it('adopts and reaps orphans of the app when not PID 1', async () => {
    const r = await run([ORPHANS, '5', '9'], { env: cleanEnv({ WAYPOINT_CEB_SUBREAPER: '1' }) });
    expect(r.stdout.toString()).toContain('all 5 orphans reaped');
    expect(r.code).toBe(9);
  });

  it('leaves orphans to the real init when not asked to reap', async () => {
    // Without PID 1 or the subreaper flag the orphans are adopted elsewhere; they are still
    // reaped (by the machine's init), so the app's view is the same and our exit code exact.
    const r = await run([ORPHANS, '3', '4']);
    expect(r.code).toBe(4);
  });
});
