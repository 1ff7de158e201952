// Exec end to end, as an operator uses it: `waypoint-ctl exec` → the reference server → the
// instance's own connection → the real entrypoint (the bundle, and the single binary for the
// terminal case) → the command, next to a running app that must not notice anything.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isRunning } from '../helpers/proc.js';
import { BINARY, cleanEnv, killAll, run, type Running, start, waitFor, withDeadline } from '../helpers/run.js';
import { CTL, startServer, stopServers, type TestServer } from '../helpers/server.js';
import { closeTerminals, openTerminal } from '../helpers/terminal.js';

/** The app: prints its pid once, then idles; a restart would print a second line. */
const APP = ['sh', '-c', 'echo "app-pid $$"; while :; do sleep 0.05; done'];

let dir: string;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-exec-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(async () => {
  closeTerminals();
  killAll();
  await stopServers();
});

interface Instance {
  server: TestServer;
  r: Running;
  app: string;
  appPid: number;
}

async function launch(opts: { app?: string; bin?: string; env?: NodeJS.ProcessEnv; server?: TestServer } = {}): Promise<Instance> {
  const app = opts.app ?? 'shop';
  const server = opts.server ?? (await startServer());
  const { deploymentId, inviteToken } = await server.createDeployment(app);
  const r = start(APP, {
    bin: opts.bin,
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: deploymentId,
      WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
      WAYPOINT_CEB_STOP_TIMEOUT: '2s',
      ...opts.env,
    }),
    cwd: dir,
  });
  await r.waitForOutput(/app-pid \d+/);
  await waitFor(async () => (await server.instances(app)).some((i) => i.deployment_id === deploymentId), {
    what: () => `an instance of ${app} registered`,
  });
  const appPid = Number(/app-pid (\d+)/.exec(r.stdout().toString())![1]);
  return { server, r, app, appPid };
}

/** The app is still the one it was: same pid, alive, never restarted. */
function expectAppUndisturbed(inst: Instance): void {
  expect(isRunning(inst.appPid)).toBe(true);
  expect(inst.r.stdout().toString().match(/app-pid/g)).toHaveLength(1);
}

/** `ctl exec -T` with an empty stdin. */
function exec(inst: Instance, args: string[]) {
  return inst.server.ctl(['exec', '--app', inst.app, '-T', '--', ...args], { timeoutMs: 30_000 });
}

/** `ctl exec -T` with `input` as its stdin. */
function execWithInput(inst: Instance, args: string[], input: Buffer | string) {
  return run(['exec', '--app', inst.app, '-T', '--', ...args], { bin: CTL, env: inst.server.env(), input, timeoutMs: 30_000 });
}

describe('exec without a terminal', () => {
  it('pipes stdin to the command and its stdout back: echo hello | ctl exec -- cat', async () => {
    const inst = await launch();
    const r = await execWithInput(inst, ['cat'], 'hello\n');
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('hello\n');
    expectAppUndisturbed(inst);
  });

  it('carries 10 MB of binary bytes through cat byte for byte', async () => {
    const inst = await launch();
    const data = randomBytes(10 * 1024 * 1024);
    const r = await execWithInput(inst, ['cat'], data);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(r.stdout.equals(data)).toBe(true);
  });

  it('carries 50 MB of binary bytes through cat byte for byte to a reader that stalls twice', async () => {
    // While the reader stalls, the ctl stops reading the call and flow control holds the server,
    // the entrypoint and cat back; nothing may be lost, doubled or reordered on the way.
    const inst = await launch();
    const data = randomBytes(50 * 1024 * 1024);
    const ctl = spawn(CTL, ['exec', '--app', inst.app, '-T', '--', 'cat'], { env: inst.server.env(), stdio: ['pipe', 'pipe', 'inherit'] });
    ctl.stdin.end(data);
    const chunks: Buffer[] = [];
    let got = 0;
    const stalls = [8, 30].map((mb) => mb * 1024 * 1024);
    ctl.stdout.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (stalls.length > 0 && got >= stalls[0]!) {
        stalls.shift();
        ctl.stdout.pause();
        setTimeout(() => ctl.stdout.resume(), 300);
      }
    });
    const code = await withDeadline(new Promise((resolve) => ctl.once('close', resolve)), 60_000, 'the exec to end');
    expect(code).toBe(0);
    expect(stalls).toHaveLength(0);
    expect(got).toBe(data.length);
    expect(Buffer.concat(chunks).equals(data)).toBe(true); // a boolean: no diff of megabytes
  });

  it('keeps stderr apart from stdout', async () => {
    const inst = await launch();
    const r = await exec(inst, ['sh', '-c', 'echo to-out; echo to-err >&2']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('to-out\n');
    expect(r.stderr.toString()).toBe('to-err\n');
  });

  it('exits with the command exit code: sh -c "exit 7" → 7', async () => {
    const inst = await launch();
    expect((await exec(inst, ['sh', '-c', 'exit 7'])).code).toBe(7);
  });

  it('exits 128+N when a signal kills the command', async () => {
    const inst = await launch();
    expect((await exec(inst, ['sh', '-c', 'kill -TERM $$'])).code).toBe(128 + 15);
  });

  it('a missing command is an error on stderr and exit 127', async () => {
    const inst = await launch();
    const r = await exec(inst, ['no-such-command-here']);
    expect(r.code).toBe(127);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr.toString()).toMatch(/no-such-command-here.*not found/);
    expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
  });

  it('the command sees the app env with the current app config', async () => {
    const inst = await launch();
    const set = await inst.server.ctl(['config', 'set', '--app', inst.app, 'SHOP_MODE=exec-visible']);
    expect(set.code).toBe(0);
    // The config change restarts the app (env changed): wait for the new one, then exec.
    await waitFor(() => (inst.r.stdout().toString().match(/app-pid/g) ?? []).length === 2, { what: () => 'the restart' });
    const r = await exec(inst, ['sh', '-c', 'echo "mode=$SHOP_MODE"; echo "port=$PORT"; env | grep -c WAYPOINT_CEB_INVITE_TOKEN || true']);
    expect(r.stdout.toString()).toBe('mode=exec-visible\nport=5000\n0\n');
  });

  it('closing the ctl mid-session kills the remote process group within a second', async () => {
    const inst = await launch();
    const pidFile = path.join(dir, `pids-${Date.now()}`);
    const ctl = start(['exec', '--app', inst.app, '-T', '--', 'sh', '-c', `sleep 100 & echo $$ $! > ${pidFile}; wait`], {
      bin: CTL,
      env: inst.server.env(),
    });
    await waitFor(() => {
      try {
        return readFileSync(pidFile, 'utf8').trim().split(' ').length === 2;
      } catch {
        return false;
      }
    }, { what: () => 'the remote command to start' });
    const pids = readFileSync(pidFile, 'utf8').trim().split(' ').map(Number);
    ctl.proc.kill('SIGKILL');
    await waitFor(() => pids.every((p) => !isRunning(p)), { timeoutMs: 1_000, what: () => `pids ${pids} to be gone` });
    expectAppUndisturbed(inst);
  });

  it('an instance with exec disabled refuses with a clear message and runs nothing', async () => {
    const inst = await launch({ env: { WAYPOINT_CEB_DISABLE_EXEC: '1' } });
    const marker = path.join(dir, `ran-${Date.now()}`);
    const r = await exec(inst, ['sh', '-c', `touch ${marker}`]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.toString()).toMatch(/exec is disabled/i);
    expect(() => readFileSync(marker)).toThrow();
  });

  it('ten concurrent sessions all complete correctly', async () => {
    const inst = await launch();
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => execWithInput(inst, ['sh', '-c', `cat; echo "session ${i}"; exit ${i}`], `input ${i}\n`)),
    );
    results.forEach((r, i) => {
      expect(r.code).toBe(i);
      expect(r.stdout.toString()).toBe(`input ${i}\nsession ${i}\n`);
    });
    expectAppUndisturbed(inst);
  });

  it('records each session in exec-history and the audit lines in the logs', async () => {
    const inst = await launch();
    await exec(inst, ['sh', '-c', 'exit 3']);
    const history = await inst.server.ctl(['exec-history', '--app', inst.app, '--json']);
    expect(history.code).toBe(0);
    const sessions = JSON.parse(history.stdout.toString()) as Array<Record<string, unknown>>;
    expect(sessions).toHaveLength(1);
    expect(sessions[0]).toMatchObject({ app: inst.app, args: ['sh', '-c', 'exit 3'], exit_code: 3, state: 'EXITED', tty: false });
    await waitFor(async () => {
      const logs = await inst.server.ctl(['logs', '--app', inst.app, '--source', 'entrypoint']);
      const text = logs.stdout.toString();
      return (
        /exec session started .*args="\[\\"sh\\",\\"-c\\",\\"exit 3\\"\]"/.test(text) &&
        /exec session ended .*exit_code=3/.test(text)
      );
    }, { what: () => 'the audit lines in the logs' });
  });
});

/** The ctl on a terminal of its own, as an operator types into it. */
function ctlOnTerminal(server: TestServer, args: string[], size = { cols: 100, rows: 30 }, term = 'xterm') {
  return openTerminal(CTL, args, { ...size, term, env: server.env() });
}

const SHELL = ['sh', '-i'];
/** Split by quotes so that the echo of this line never looks like the prompt itself. */
const SET_PROMPT = "PS1='PRO''MPT> '\r";

function terminalSuite(name: string, bin: string | undefined) {
  describe(`exec with a terminal (${name})`, () => {
    it('gives the command a pty of the requested size and TERM, follows a resize, returns the exit code', async () => {
      const inst = await launch({ bin });
      const t = ctlOnTerminal(inst.server, ['exec', '--app', inst.app, '--', ...SHELL], { cols: 91, rows: 27 }, 'vt100');
      t.term.write(SET_PROMPT);
      await t.waitFor('PROMPT> ');
      t.term.write('tty; echo "term=$TERM"; stty size\r');
      await t.waitFor(/\/dev\/pts\/\d+/);
      await t.waitFor('term=vt100');
      await t.waitFor('27 91');
      t.term.resize(120, 40);
      // The resize travels ctl → server → entrypoint: ask until it has arrived.
      await waitFor(async () => {
        t.term.write('stty size\r');
        await new Promise((r) => setTimeout(r, 100));
        return t.output().includes('40 120');
      }, { what: () => `the new size; got ${JSON.stringify(t.output().slice(-300))}` });
      t.term.write('exit 4\r');
      expect(await withDeadline(t.exited, 10_000, 'ctl exit')).toBe(4);
      expectAppUndisturbed(inst);
    });

    it('Ctrl-C reaches the remote command, not the ctl', async () => {
      const inst = await launch({ bin });
      const t = ctlOnTerminal(inst.server, ['exec', '--app', inst.app, '--', ...SHELL]);
      t.term.write(SET_PROMPT);
      await t.waitFor('PROMPT> ');
      t.term.write('echo started; sleep 100; echo after-sleep\r');
      await t.waitFor(/[\r\n]started\r\n/);
      t.term.write('\x03');
      t.term.write('echo status-$?\r');
      await t.waitFor('status-130');
      expect(t.output()).not.toMatch(/[\r\n]after-sleep/);
      t.term.write('exit\r');
      expect(await withDeadline(t.exited, 10_000, 'ctl exit')).toBe(0);
    });

    it('~. after a newline closes the session', async () => {
      const inst = await launch({ bin });
      const t = ctlOnTerminal(inst.server, ['exec', '--app', inst.app, '--', ...SHELL]);
      t.term.write(SET_PROMPT);
      await t.waitFor('PROMPT> ');
      t.term.write('\r~.');
      expect(await withDeadline(t.exited, 10_000, 'ctl exit')).toBe(255);
    });
  });
}

terminalSuite('bundle', undefined);
terminalSuite('single binary', BINARY);

describe('exec placement', () => {
  // That a token of one deployment cannot open another's session is tested at the wire level in
  // server/exec/exec.test.ts (only a scripted client can try it).
  it('with two apps on one server, each exec lands in its own app instance', async () => {
    const a = await launch({ app: 'alpha' });
    const b = await launch({ app: 'beta', server: a.server });
    const ra = await exec(a, ['sh', '-c', 'echo $PPID']);
    const rb = await exec(b, ['sh', '-c', 'echo $PPID']);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    // Each command's parent is its own entrypoint (pipes: spawned by it directly).
    expect(Number(ra.stdout.toString())).toBe(a.r.pid);
    expect(Number(rb.stdout.toString())).toBe(b.r.pid);
  });
});
