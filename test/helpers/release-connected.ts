// The connected checks the release binaries share (release-x64 in a Debian 11 root filesystem,
// release-arm64 under qemu): the reference server runs here, outside, on 127.0.0.1; the binary
// (however its test starts it) connects to it. Config set before the start reaches the app's
// environment, the app's lines reach the server's logs, and `waypoint-ctl exec` runs commands
// next to the app, with and without a terminal. Deadlines are generous: qemu is slow, not flaky.
import { expect } from 'vitest';
import { type Running, waitFor, withDeadline } from './run.js';
import { CTL, startServer, type TestServer } from './server.js';
import { openTerminal } from './terminal.js';

/** Starts the release binary with `argv` as its app and `env` (a clean environment plus these). */
export type Launch = (argv: string[], env: NodeJS.ProcessEnv) => Running;

export interface Connected {
  server: TestServer;
  r: Running;
  app: string;
}

const GREETING = 'from-the-server';
/** Prints the config it got, then idles; trapping TERM so that a stop is quick. */
const APP = ['sh', '-c', 'trap "exit 0" TERM; echo "greeting=$GREETING"; while :; do sleep 0.05; done'];

/** Server, deployment, config set, then the binary started and registered with its app running. */
export async function startConnected(launch: Launch, timeoutMs: number): Promise<Connected> {
  const app = 'shop';
  const server = await startServer();
  const { deploymentId, inviteToken } = await server.createDeployment(app);
  const set = await server.ctl(['config', 'set', '--app', app, `GREETING=${GREETING}`]);
  expect(set.code, set.stderr.toString()).toBe(0);
  const r = launch(APP, {
    WAYPOINT_SERVER_ADDR: server.addr,
    WAYPOINT_DEPLOYMENT_ID: deploymentId,
    WAYPOINT_CEB_INVITE_TOKEN: inviteToken,
    WAYPOINT_CEB_CONNECT_TIMEOUT: `${Math.round(timeoutMs / 1000)}s`,
    WAYPOINT_CEB_STOP_TIMEOUT: '2s',
  });
  await r.waitForOutput(`greeting=${GREETING}\n`, { timeoutMs });
  await waitFor(async () => (await server.instances(app)).some((i) => i.deployment_id === deploymentId), {
    timeoutMs,
    what: () => `an instance of ${app} registered; stderr: ${r.stderr().toString().slice(-500)}`,
  });
  return { server, r, app };
}

/** The app's line shows in `waypoint-ctl logs`. */
export async function expectLogsAtServer({ server, app }: Connected, timeoutMs: number): Promise<void> {
  let seen = '';
  await waitFor(
    async () => {
      seen = (await server.ctl(['logs', '--app', app])).stdout.toString();
      return seen.includes(`greeting=${GREETING}`);
    },
    { timeoutMs, intervalMs: 200, what: () => `the app's line in waypoint-ctl logs; got ${JSON.stringify(seen.slice(-300))}` },
  );
}

/** `ctl exec -T -- sh -c SCRIPT`: stdout, stderr and exit code back. */
export async function execWithoutTerminal({ server, app }: Connected, script: string, timeoutMs: number) {
  const r = await server.ctl(['exec', '--app', app, '-T', '--', 'sh', '-c', script], { timeoutMs });
  return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/**
 * Exec errors: a missing command and a directory come back as 127 and 126 with one line. The
 * entrypoint finds the command itself before it spawns, so these do not depend on how
 * posix_spawn reports an exec error (qemu-user runs its CLONE_VFORK as a plain fork, where the
 * error would come back as the child's exit 127 instead).
 */
export async function expectExecErrors({ server, app }: Connected, timeoutMs: number): Promise<void> {
  const exec = async (argv: string[]) => {
    const r = await server.ctl(['exec', '--app', app, '-T', '--', ...argv], { timeoutMs });
    return { code: r.code, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
  };
  expect(await exec(['no-such-command'])).toEqual({ code: 127, stdout: '', stderr: 'waypoint-ctl: no-such-command: command not found\n' });
  expect(await exec(['/usr'])).toEqual({ code: 126, stdout: '', stderr: 'waypoint-ctl: /usr: is a directory\n' });
}

/** The entrypoint's own stderr lines above info (warnings, errors): none expected but `allowed`. */
export function expectNoWarnings({ r }: Connected, allowed: RegExp[] = []): void {
  const lines = r.stderr().toString().split('\n').filter((l) => l && !/^waypoint-entrypoint: (info|debug): /.test(l));
  expect(lines.filter((l) => !allowed.some((a) => a.test(l)))).toEqual([]);
}

/**
 * `ctl exec -- sh -i` on a terminal of 91×27 (as an operator types): the command's own pty, of
 * that size, runs `probe` and exits 4, which the ctl returns. Resolves to what the terminal showed.
 */
export async function execOnTerminal({ server, app }: Connected, probe: string, timeoutMs: number): Promise<string> {
  const t = openTerminal(CTL, ['exec', '--app', app, '--', 'sh', '-i'], { cols: 91, rows: 27, env: server.env() });
  // Split by quotes so that the echo of this line never looks like the prompt itself.
  t.term.write("PS1='PRO''MPT> '\r");
  await t.waitFor('PROMPT> ', timeoutMs);
  t.term.write(`tty; stty size; ${probe}; echo 'DO''NE'\r`);
  await t.waitFor(/DONE\r?\n/, timeoutMs);
  t.term.write('exit 4\r');
  expect(await withDeadline(t.exited, timeoutMs, 'waypoint-ctl exec on a terminal to exit')).toBe(4);
  const out = t.output();
  expect(out).toMatch(/\/dev\/pts\/\d+\r?\n/);
  expect(out).toMatch(/\b27 91\r?\n/);
  return out;
}
