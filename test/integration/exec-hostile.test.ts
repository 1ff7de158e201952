// Exec requests no process can be started from, end to end (the bundle) against the scriptable
// fake server: a path under a file, a name too long for the file system, a NUL in the command
// line or TERM, an app PATH holding a file, an absurd window size. Each is an `error` message to
// the server (or runs, clamped); the entrypoint and its app live on, never restarted.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ConfigVar } from '../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import type { _hashicorp_waypoint_EntrypointConfig_Exec as ExecEntry } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import { EXEC_ERROR_CODE } from '../../src/protocol/exec-status.js';
import { MAX_WINDOW_DIMENSION } from '../../src/exec/pty-runner.js';
import { fakeFixture } from '../helpers/fake-fixture.js';
import type { FakeExec, FakeWaypoint } from '../helpers/fake-waypoint.js';
import { isRunning } from '../helpers/proc.js';
import { type Running, start, waitFor } from '../helpers/run.js';

const fx = fakeFixture('exec-hostile');
const APP = 'echo "app $$"; while :; do sleep 0.05; done';

interface Instance {
  fake: FakeWaypoint;
  entrypoint: Running;
  appPid: number;
  vars: ConfigVar[];
  entries: ExecEntry[];
}

async function launch(vars: ConfigVar[] = []): Promise<Instance> {
  const fake = await fx.fake({ config: { env_vars: vars } });
  const entrypoint = start(['sh', '-c', APP], {
    env: fx.env(fake.addr),
    cwd: fx.dir,
  });
  await entrypoint.waitForOutput(/^app \d+$/m);
  const appPid = Number(/^app (\d+)$/m.exec(entrypoint.stdout().toString())![1]);
  return { fake, entrypoint, appPid, vars, entries: [] };
}

let nextIndex = 1;

async function exec(instance: Instance, args: string[], pty?: ExecEntry['pty']): Promise<FakeExec> {
  const index = nextIndex++;
  instance.entries.push({ index, args, pty });
  instance.fake.push({ env_vars: instance.vars, exec: instance.entries });
  let found: FakeExec | undefined;
  await waitFor(() => (found = instance.fake.exec(index)) !== undefined, { what: () => `exec stream ${index}` });
  await waitFor(() => found!.closed, { what: () => `exec ${index} to end (events ${found!.events.join(',')})` });
  return found!;
}

/** The entrypoint is alive and its app is the first one, never restarted. */
function expectAlive(instance: Instance): void {
  expect(instance.entrypoint.proc.exitCode).toBeNull();
  expect(isRunning(instance.appPid)).toBe(true);
  expect(instance.entrypoint.stdout().toString().match(/^app \d+$/gm)).toEqual([`app ${instance.appPid}`]);
  expect(instance.entrypoint.stderr().toString()).not.toMatch(/Uncaught|at .*\.c?js:\d+|Node\.js v/);
}

describe('exec requests that cannot start', () => {
  it('H1: a path under a file, a 300-character name and a NUL in the command are errors to the server; all live on', async () => {
    const instance = await launch();
    const underFile = await exec(instance, ['/etc/passwd/x']);
    expect(underFile.error).toEqual({ code: EXEC_ERROR_CODE.NOT_FOUND, message: '/etc/passwd/x: not a directory' });
    expect(underFile.events).toEqual(['open', 'error']);

    const long = 'a'.repeat(300);
    const tooLong = await exec(instance, [long]);
    expect(tooLong.error).toEqual({ code: EXEC_ERROR_CODE.NOT_FOUND, message: `${long}: command not found` });
    const longPath = await exec(instance, [`/tmp/${long}`]);
    expect(longPath.error).toEqual({ code: EXEC_ERROR_CODE.NOT_FOUND, message: `/tmp/${long}: file name too long` });

    const nul = await exec(instance, ['ls\0x']);
    expect(nul.error).toEqual({ code: EXEC_ERROR_CODE.INVALID_ARGUMENT, message: 'the command name contains a NUL byte, which a command line cannot hold' });
    // Still serving exec afterwards.
    const ok = await exec(instance, ['sh', '-c', 'echo fine']);
    expect(ok.stdout().toString()).toBe('fine\n');
    expect(ok.exit).toBe(0);
    expectAlive(instance);
  });

  it('L10: a NUL in an argument or in TERM is INVALID_ARGUMENT, nothing run', async () => {
    const instance = await launch();
    const marker = path.join(fx.dir, 'nul-arg-ran');
    const arg = await exec(instance, ['touch', `${marker}\0tail`]);
    expect(arg.error).toEqual({ code: EXEC_ERROR_CODE.INVALID_ARGUMENT, message: 'argument 1 contains a NUL byte, which a command line cannot hold' });
    const term = await exec(instance, ['touch', marker], { enable: true, term: 'xterm\0evil', window_size: { rows: 24, cols: 80, width: 0, height: 0 } });
    expect(term.error?.code).toBe(EXEC_ERROR_CODE.INVALID_ARGUMENT);
    expect(isRunning(instance.appPid)).toBe(true);
    expect(existsSync(marker)).toBe(false);
    expectAlive(instance);
  });

  it('H1: with a file in the app PATH every exec is looked up past it; a command on no entry is NOT_FOUND', async () => {
    const instance = await launch([{ name: 'PATH', static: `/etc/hosts:/etc/hosts/sub:${process.env.PATH}` }]);
    const ok = await exec(instance, ['sh', '-c', 'echo "path=$PATH"']);
    expect(ok.exit).toBe(0);
    expect(ok.stdout().toString()).toContain('path=/etc/hosts:');
    const missing = await exec(instance, ['no-such-command-hostile']);
    expect(missing.error).toEqual({ code: EXEC_ERROR_CODE.NOT_FOUND, message: 'no-such-command-hostile: command not found' });
    expectAlive(instance);
  });

  it('L10: a window of 70000 columns is clamped, not wrapped to 4464; negative is the default', async () => {
    const instance = await launch();
    const pty = { enable: true, term: 'xterm', window_size: { rows: -5, cols: 70000, width: 0, height: 0 } };
    const e = await exec(instance, ['sh', '-c', 'stty size'], pty);
    expect(e.exit).toBe(0);
    expect(e.stdout().toString()).toContain(`24 ${MAX_WINDOW_DIMENSION}\r\n`);
    expectAlive(instance);
  });
});
