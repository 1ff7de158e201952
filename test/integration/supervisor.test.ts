// The supervisor end to end, on the bundle (bin/waypoint-entrypoint), in disabled mode: exit
// statuses, signal forwarding, stop timeout, output and input passthrough, the app's
// environment, NODE_OPTIONS isolation, settings and usage errors, no sockets, slow readers and
// a reader that goes away. In the manner of tini's and dumb-init's suites: each test names one behaviour.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  constants as fsConstants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer as createTcpServer, type Server, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanEnv,
  ENTRYPOINT,
  type Exit,
  FIXTURES,
  killAll,
  ROOT,
  run,
  type Running,
  start,
  type StartOptions,
  waitFor,
  withDeadline,
} from '../helpers/run.js';
import { childPids, isRunning, killDescendants, networkSockets } from '../helpers/proc.js';
import { closeTerminals, openTerminal } from '../helpers/terminal.js';

/**
 * Connected mode with no server to reach (the app starts at once, fail-open): the app's output is
 * relayed through us for log capture, on pipes of its own. Disabled mode hands it ours instead.
 */
const RELAYED = { WAYPOINT_SERVER_ADDR: '127.0.0.1:1', WAYPOINT_CEB_CONNECT_TIMEOUT: '0', WAYPOINT_LOG_LEVEL: 'error' };

const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;

// Every entrypoint a test starts, and any pid that could outlive it (a grandchild in a group
// of its own, an orphan): all killed after each test, whatever its outcome.
const started: Running[] = [];
const strays: number[] = [];

function launch(args: string[], options: StartOptions = {}): Running {
  const r = start(args, options);
  started.push(r);
  return r;
}

/** Runs to completion (stdin: `input`, empty by default) within a deadline. */
async function runToEnd(
  args: string[],
  options: StartOptions & { timeoutMs?: number } = {},
): Promise<Exit & { stdout: Buffer; stderr: Buffer }> {
  const { timeoutMs = 20_000, ...rest } = options;
  const r = launch(args, { input: '', ...rest });
  const exit = await withDeadline(r.exited, timeoutMs, `${args.join(' ')} to exit`);
  return { ...exit, stdout: r.stdout(), stderr: r.stderr() };
}

function exitOf(r: Running, timeoutMs = 10_000): Promise<Exit> {
  return withDeadline(r.exited, timeoutMs, 'the entrypoint to exit');
}

/**
 * Waits for the app to say "ready", then notes it as a stray: it leads a process group of its
 * own, killed after the test even if the entrypoint died first and left it orphaned.
 */
async function ready(r: Running): Promise<void> {
  await r.waitForOutput('ready\n');
  strays.push(...childPids(r.pid));
}

/** The pid printed by a fixture as "grandchild <pid>". */
function grandchildPid(r: Running): number {
  const m = /grandchild (\d+)\n/.exec(r.stdout().toString());
  if (!m) throw new Error(`no grandchild pid in ${JSON.stringify(r.stdout().toString())}`);
  const pid = Number(m[1]);
  strays.push(pid);
  return pid;
}

/** No stack trace and no raw "Error:" of Node's on stderr. */
function expectNoStackTrace(stderr: Buffer): void {
  const text = stderr.toString();
  expect(text).not.toMatch(/^\s+at /m);
  expect(text).not.toMatch(/\bError:/);
}

let tmp: string;

beforeAll(() => {
  if (!existsSync(path.join(ROOT, 'dist/entrypoint.cjs'))) {
    throw new Error('dist/entrypoint.cjs is missing: run node scripts/build.mjs first');
  }
  tmp = mkdtempSync(path.join(os.tmpdir(), 'wp-supervisor-'));
});

afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

afterEach(() => {
  for (const r of started.splice(0)) killDescendants(r.pid);
  for (const pid of strays.splice(0)) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL'); // -pid: the group it leads, if any
      } catch {
        /* gone, or not a group leader */
      }
    }
  }
  killAll();
});

/** A fresh directory for one test. */
function testDir(): string {
  return mkdtempSync(path.join(tmp, 't-'));
}

describe('exit status', () => {
  it.each([0, 1, 2, 42, 126, 127, 255])("passes the child's exit code %d through", async (code) => {
    const r = await runToEnd(['sh', '-c', `exit ${code}`]);
    expect(r).toMatchObject({ code, signal: null });
    expect(r.stderr.toString()).toBe('');
  });

  it.each([
    ['KILL', 137],
    ['SEGV', 139],
    ['TERM', 143],
    ['USR1', 138],
  ])('exits 128+N when the child dies of SIG%s (%d)', async (sig, status) => {
    // ulimit -c 0: a SEGV must not leave a core file behind
    const r = await runToEnd(['sh', '-c', `ulimit -c 0; kill -${sig} $$`]);
    expect(r).toMatchObject({ code: status, signal: null });
  });

  it('exits 127 naming the command when it is not found', async () => {
    const r = await runToEnd(['nosuch', 'arg']);
    expect(r.code).toBe(127);
    expect(r.stdout.toString()).toBe('');
    const err = r.stderr.toString();
    expect(err).toContain('nosuch: command not found');
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expectNoStackTrace(r.stderr);
  });

  it('exits 127 for a missing path', async () => {
    const missing = path.join(tmp, 'no-such-dir', 'app');
    const r = await runToEnd([missing]);
    expect(r.code).toBe(127);
    expect(r.stderr.toString()).toContain(`${missing}: no such file or directory`);
  });

  it.each([
    ['a path under a file', '/etc/passwd/x', '/etc/passwd/x: not a directory'],
    ['a name too long for a path', `/tmp/${'a'.repeat(300)}`, 'file name too long'],
    ['a 300-character name', 'a'.repeat(300), 'command not found'],
  ])('H1: exits 127 with one line for %s, never a stack trace', async (_what, command, message) => {
    const r = await runToEnd([command]);
    expect(r.code).toBe(127);
    expect(r.stderr.toString()).toContain(message);
    expect(r.stderr.toString().trimEnd().split('\n')).toHaveLength(1);
    expectNoStackTrace(r.stderr);
  });

  it('exits 126 naming the file when it is not executable', async () => {
    const file = path.join(testDir(), 'not-executable');
    writeFileSync(file, '#!/bin/sh\necho ran\n');
    chmodSync(file, 0o644);
    const r = await runToEnd([file]);
    expect(r.code).toBe(126);
    expect(r.stdout.toString()).toBe('');
    const err = r.stderr.toString();
    expect(err).toContain(`${file}: permission denied`);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expectNoStackTrace(r.stderr);
  });

  it('exits 126 when the command found on PATH is not executable', async () => {
    const dir = testDir();
    writeFileSync(path.join(dir, 'app'), '#!/bin/sh\necho ran\n');
    chmodSync(path.join(dir, 'app'), 0o644);
    const r = await runToEnd(['app'], { env: cleanEnv({ PATH: `${dir}:${process.env.PATH}` }) });
    expect(r.code).toBe(126);
    expect(r.stderr.toString()).toContain('app: permission denied');
    expect(r.stdout.toString()).toBe('');
  });

  it('exits 126 when the command is a directory', async () => {
    const dir = testDir();
    const r = await runToEnd([dir]);
    expect(r.code).toBe(126);
    expect(r.stderr.toString()).toContain(`${dir}: is a directory`);
  });
});

describe('signals', () => {
  it.each([
    ['TERM', 70],
    ['INT', 71],
    ['HUP', 72],
    ['QUIT', 73],
    ['USR1', 74],
    ['USR2', 75],
    ['WINCH', 76],
  ])('forwards SIG%s to the child (which exits %d from its trap)', async (sig, code) => {
    const r = launch(['sh', '-c', `trap 'exit ${code}' ${sig}; echo ready; while :; do sleep 0.05; done`]);
    await ready(r);
    process.kill(r.pid, `SIG${sig}` as NodeJS.Signals);
    expect(await exitOf(r)).toEqual({ code, signal: null });
    expect(r.stdout().toString()).toBe('ready\n');
  });

  it('stops a child that exits on SIGTERM with its own code, well before the stop timeout', async () => {
    const r = launch(['sh', '-c', "trap 'exit 70' TERM; echo ready; while :; do sleep 0.05; done"]);
    await ready(r);
    const sent = Date.now();
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 70, signal: null });
    expect(Date.now() - sent).toBeLessThan(5000); // the default stop timeout is 30 s
  });

  it('SIGKILLs the process group of a child that ignores SIGTERM once WAYPOINT_CEB_STOP_TIMEOUT runs out', async () => {
    const r = launch([path.join(FIXTURES, 'ignore-term.sh')], {
      env: cleanEnv({ WAYPOINT_CEB_STOP_TIMEOUT: '500ms' }),
    });
    await ready(r);
    const grandchild = grandchildPid(r);
    expect(isRunning(grandchild)).toBe(true);
    const sent = Date.now();
    process.kill(r.pid, 'SIGTERM');
    expect(await exitOf(r)).toEqual({ code: 137, signal: null });
    const elapsed = Date.now() - sent;
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(5000);
    await waitFor(() => !isRunning(grandchild), { timeoutMs: 5000, what: () => `grandchild ${grandchild} to be killed` });
  });

  it('with WAYPOINT_CEB_SIGNAL_GROUP=1 forwards a signal to the whole process group of the child', async () => {
    const r = launch([path.join(FIXTURES, 'group-signal.sh')], { env: cleanEnv({ WAYPOINT_CEB_SIGNAL_GROUP: '1' }) });
    await ready(r);
    grandchildPid(r);
    process.kill(r.pid, 'SIGUSR1');
    await r.waitForOutput('child got USR1\n');
    await r.waitForOutput('grandchild got USR1\n');
  });

  it('without WAYPOINT_CEB_SIGNAL_GROUP forwards a signal to the child alone', async () => {
    const r = launch([path.join(FIXTURES, 'group-signal.sh')]);
    await ready(r);
    const grandchild = grandchildPid(r);
    process.kill(r.pid, 'SIGUSR1');
    await r.waitForOutput('child got USR1\n');
    // Barrier: a USR1 sent to the group would have been pending in the grandchild before this
    // USR2, and the shell runs pending traps in signal-number order.
    process.kill(grandchild, 'SIGUSR2');
    await r.waitForOutput('grandchild got USR2\n');
    expect(r.stdout().toString()).not.toContain('grandchild got USR1');
  });
});

describe('where the app’s output goes', () => {
  // The app's (the shell's) fd N against the entrypoint's: the same open file, or a pipe of its own.
  // (Read before any redirection: dash makes its own for the time of a redirected command.)
  const whereOutputGoes =
    'o="$(readlink /proc/$$/fd/1) $(readlink /proc/$PPID/fd/1) $(readlink /proc/$$/fd/2) $(readlink /proc/$PPID/fd/2)"; echo "$o" >&2';

  it('in disabled mode, gives the app our own stdout and stderr: nothing passes through us, as under tini', async () => {
    const r = await runToEnd(['sh', '-c', whereOutputGoes]);
    expect(r.code).toBe(0);
    const [appOut, ourOut, appErr, ourErr] = r.stderr.toString().trim().split(' ');
    expect(appOut).toMatch(/^socket:/); // the test's own end, as child_process made it
    expect({ appOut, appErr }).toEqual({ appOut: ourOut, appErr: ourErr });
  });

  it('relayed (connected mode), gives the app pipes of its own to us', async () => {
    const r = await runToEnd(['sh', '-c', whereOutputGoes], { env: cleanEnv(RELAYED) });
    expect(r.code).toBe(0);
    const [appOut, ourOut, appErr, ourErr] = r.stderr.toString().trim().split(' ');
    expect([appOut, appErr]).toEqual([expect.stringMatching(/^pipe:/), expect.stringMatching(/^pipe:/)]);
    expect(appOut).not.toBe(appErr);
    expect([ourOut, ourErr]).toEqual([expect.stringMatching(/^socket:/), expect.stringMatching(/^socket:/)]);
  });
});

describe.each([
  ['disabled mode: our own stdout and stderr, as under tini', {}],
  ['connected mode: relayed by the addon’s threads', RELAYED],
] as const)('output, %s', (_mode, modeEnv) => {
  const env = () => cleanEnv(modeEnv);

  it('passes all 256 byte values through stdout unchanged, with no newline added', async () => {
    const file = path.join(testDir(), 'bytes');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    writeFileSync(file, bytes);
    const r = await runToEnd(['cat', file], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.equals(bytes)).toBe(true);
    expect(r.stderr.length).toBe(0);
  });

  it('passes all 256 byte values through stderr unchanged', async () => {
    const file = path.join(testDir(), 'bytes');
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i));
    writeFileSync(file, bytes);
    const r = await runToEnd(['sh', '-c', 'cat "$1" >&2', 'sh', file], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stderr.equals(bytes)).toBe(true);
    expect(r.stdout.length).toBe(0);
  });

  it('passes 50 MB of random binary data through stdout byte for byte', { timeout: 90_000 }, async () => {
    const file = path.join(testDir(), 'random.bin');
    const data = randomBytes(50 * 1024 * 1024);
    writeFileSync(file, data);
    const expected = createHash('sha256').update(data).digest('hex');
    const r = await runToEnd(['cat', file], { timeoutMs: 60_000, env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(data.length);
    expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(expected);
  });

  it.each(['stdout', 'stderr'] as const)(
    'delivers all output to a slow reader on %s before exiting',
    { timeout: 60_000 },
    async (stream) => {
      const size = 3_000_000;
      const r = launch(['sh', '-c', `head -c ${size} /dev/zero${stream === 'stderr' ? ' >&2' : ''}`], { env: env() });
      // A slow reader: at most 8 KiB at a time, a millisecond apart. The child finishes writing
      // long before the reader is done, so what we still hold at its exit must not be lost.
      const from = stream === 'stdout' ? r.proc.stdout! : r.proc.stderr!;
      from.pause();
      const drip = setInterval(() => from.read(8192), 1);
      try {
        expect(await exitOf(r, 50_000)).toEqual({ code: 0, signal: null });
      } finally {
        clearInterval(drip);
      }
      expect((stream === 'stdout' ? r.stdout() : r.stderr()).length).toBe(size);
    },
  );

  it('keeps stdout and stderr apart, each in order', async () => {
    const r = await runToEnd([
      'sh',
      '-c',
      'i=1; while [ $i -le 2000 ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done',
    ], { env: env() });
    expect(r.code).toBe(0);
    const lines = (prefix: string) => Array.from({ length: 2000 }, (_, i) => `${prefix} ${i + 1}\n`).join('');
    expect(r.stdout.toString()).toBe(lines('out'));
    expect(r.stderr.toString()).toBe(lines('err'));
  });

  it("lets the child's last output through when it exits right after writing", async () => {
    const r = await runToEnd(['sh', '-c', 'printf "last words"; printf "to stderr" >&2; exit 3'], { env: env() });
    expect(r.code).toBe(3);
    expect(r.stdout.toString()).toBe('last words');
    expect(r.stderr.toString()).toBe('to stderr');
  });
});

describe('relayed output, a reader that stalls', () => {
  // Relayed output (connected mode). Our stdout is a FIFO nobody reads at first: the app writes
  // more than the pipe holds, exits, and only then does the reader start. 64 KiB + 1000 bytes leaves a small write pending in
  // us; 150 KB also leaves data unread in the app's pipe (which holds ~190 KB, so the app is not
  // blocked). The stall stands for a slow log reader: longer than our idle wait for late output,
  // shorter than our bound on the final flush.
  it.each([
    ['stdout', 65_536 + 1000],
    ['stdout', 150_000],
    ['stderr', 65_536 + 1000],
    ['stderr', 150_000],
  ] as const)('delivers the last output to a %s reader that stalls after the app exits (%d bytes)', async (stream, size) => {
    const dir = testDir();
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    // Read end first (non-blocking, so opening it does not wait for a writer); it is wrapped in
    // a stream only after the stall, as a read with no writer yet would be EOF.
    const readEnd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    let reader: Socket | undefined;
    try {
      const writeEnd = openSync(fifo, fsConstants.O_WRONLY);
      const marker = path.join(dir, 'written');
      const script = `head -c ${size} /dev/zero${stream === 'stderr' ? ' >&2' : ''}; touch "$1"`;
      let r: Running;
      try {
        r = launch(['sh', '-c', script, 'sh', marker], {
          stdio: stream === 'stdout' ? ['pipe', writeEnd, 'pipe'] : ['pipe', 'pipe', writeEnd],
          env: cleanEnv(RELAYED),
        });
      } finally {
        closeSync(writeEnd);
      }
      let exitedBeforeRead = false;
      const exit = new Promise<void>((resolve) =>
        r.proc.once('exit', () => {
          exitedBeforeRead = true;
          resolve();
        }),
      );
      await waitFor(() => existsSync(marker), { what: () => 'the app to write all its output' });
      // Nothing read yet, so we must still be holding the rest: we may not exit during the stall.
      await Promise.race([exit, new Promise((resolve) => setTimeout(resolve, 600))]);
      const stalledExit = exitedBeforeRead;
      reader = new Socket({ fd: readEnd, readable: true, writable: false });
      let received = 0;
      reader.on('data', (chunk: Buffer) => (received += chunk.length));
      const eof = new Promise((resolve) => reader!.once('end', resolve));
      await withDeadline(eof, 10_000, 'EOF on the FIFO');
      expect(await exitOf(r)).toEqual({ code: 0, signal: null });
      expect({ received, stalledExit }).toEqual({ received: size, stalledExit: false });
    } finally {
      if (reader) reader.destroy();
      else closeSync(readEnd);
    }
  });
});

describe('relayed output, our stdout a terminal', () => {
  afterEach(() => closeTerminals());

  // Our stdin is not a terminal, so the app runs on pipes, relayed to our stdout: a terminal,
  // which splice may not take; the relay then writes. Every byte arrives, in order (the
  // terminal turns each \n into \r\n).
  it('carries 2 MB of output to the terminal byte for byte, in order', { timeout: 60_000 }, async () => {
    const file = path.join(testDir(), 'text');
    const lines = Array.from({ length: 40_000 }, (_, i) => `${String(i).padStart(6, '0')} ${randomBytes(18).toString('base64')}\n`).join('');
    writeFileSync(file, lines);
    const term = openTerminal('sh', ['-c', `'${ENTRYPOINT}' cat '${file}' < /dev/null; echo "exit=$?"`], { env: cleanEnv(RELAYED), cols: 200 });
    // The shell's last line, not the terminal's exit: node-pty may report the exit before it
    // has read the last of the output.
    await term.waitFor(/exit=\d+\r\n/, 50_000);
    expect(term.output().replace(/\r\n/g, '\n')).toBe(`${lines}exit=0\n`);
    expect(await withDeadline(term.exited, 10_000, 'the shell on the terminal to exit')).toBe(0);
  });
});

describe('stdin', () => {
  it('passes input to the child byte for byte', async () => {
    const input = Buffer.concat([Buffer.from(Array.from({ length: 256 }, (_, i) => i)), randomBytes(1024 * 1024)]);
    const r = await runToEnd(['cat'], { input });
    expect(r.code).toBe(0);
    expect(r.stdout.equals(input)).toBe(true);
  });

  it('delivers end of input to the child', async () => {
    const r = launch(['cat']);
    r.proc.stdin!.write('hello\n');
    await r.waitForOutput('hello\n');
    r.proc.stdin!.end();
    expect(await exitOf(r)).toEqual({ code: 0, signal: null });
    expect(r.stdout().toString()).toBe('hello\n');
  });
});

describe("the child's environment", () => {
  function envLines(stdout: Buffer): string[] {
    return stdout.toString().split('\n');
  }

  it('has no invite token, and everything else of ours', async () => {
    const r = await runToEnd(['env'], {
      env: cleanEnv({ WAYPOINT_CEB_INVITE_TOKEN: 'invite-secret-8c1f', FOO: 'bar baz', EMPTY: '' }),
    });
    expect(r.code).toBe(0);
    const lines = envLines(r.stdout);
    expect(r.stdout.toString()).not.toContain('invite-secret-8c1f');
    expect(r.stdout.toString()).not.toContain('WAYPOINT_CEB_INVITE_TOKEN');
    expect(lines).toContain('FOO=bar baz');
    expect(lines).toContain('EMPTY=');
    expect(lines).toContain(`PATH=${process.env.PATH}`);
    expect(lines).toContain(`HOME=${process.env.HOME}`);
    expect(lines).toContain('LANG=C.UTF-8');
  });

  it('has PORT=5000 when PORT is unset', async () => {
    const r = await runToEnd(['env']);
    expect(envLines(r.stdout)).toContain('PORT=5000');
  });

  it('keeps PORT when it is set', async () => {
    const r = await runToEnd(['env'], { env: cleanEnv({ PORT: '8080' }) });
    const lines = envLines(r.stdout);
    expect(lines).toContain('PORT=8080');
    expect(lines).not.toContain('PORT=5000');
  });
});

describe('NODE_OPTIONS belongs to the app', () => {
  const printNodeOptions = ['sh', '-c', 'printf "[%s]\\n" "${NODE_OPTIONS-unset}"'];

  it('does not stop us starting the app when it requires a missing file, and reaches the app unchanged', async () => {
    const r = await runToEnd(printNodeOptions, { env: cleanEnv({ NODE_OPTIONS: '--require /nonexistent/x.js' }) });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('[--require /nonexistent/x.js]\n');
    expect(r.stderr.toString()).toBe('');
  });

  it('does not preload into us, but does into a node app', async () => {
    const env = cleanEnv({ NODE_OPTIONS: `--require ${path.join(FIXTURES, 'preload.cjs')}` });
    const sh = await runToEnd(['sh', '-c', 'echo app'], { env });
    expect(sh.code).toBe(0);
    expect(sh.stdout.toString()).toBe('app\n');

    const node = await runToEnd(['node', '-e', 'console.log("app")'], { env });
    expect(node.code).toBe(0);
    expect(node.stdout.toString()).toBe('PRELOADED\napp\n');
  });

  it('is absent for the app when unset', async () => {
    const r = await runToEnd(printNodeOptions);
    expect(r.stdout.toString()).toBe('[unset]\n');
  });

  it('stays set and empty for the app when set and empty', async () => {
    const r = await runToEnd(printNodeOptions, { env: cleanEnv({ NODE_OPTIONS: '' }) });
    expect(r.stdout.toString()).toBe('[]\n');
  });

  it('does not leak our own bookkeeping variable to the app', async () => {
    const r = await runToEnd(['env'], { env: cleanEnv({ NODE_OPTIONS: '--max-old-space-size=64' }) });
    const out = r.stdout.toString();
    expect(out.split('\n')).toContain('NODE_OPTIONS=--max-old-space-size=64');
    expect(out).not.toContain('WAYPOINT_CEB_APP_NODE_OPTIONS');
  });
});

describe('malformed settings', () => {
  it.each([
    ['WAYPOINT_CEB_STOP_TIMEOUT', 'abc'],
    ['WAYPOINT_CEB_DISABLE', 'maybe'],
    ['PORT', '0'],
    ['WAYPOINT_SERVER_ADDR', 'no-port'],
    ['WAYPOINT_LOG_LEVEL', 'loud'],
    ['WAYPOINT_CEB_LOG_BUFFER', 'lots'],
    ['WAYPOINT_CEB_SIGNAL_GROUP', 'group'],
    ['WAYPOINT_LOG_FORMAT', 'xml'],
  ])('%s=%j: exit 2 with one line naming it, and the child never runs', async (name, value) => {
    const marker = path.join(testDir(), 'ran');
    const r = await runToEnd(['sh', '-c', 'touch "$1"', 'sh', marker], { env: cleanEnv({ [name]: value }) });
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    const err = r.stderr.toString();
    expect(err.endsWith('\n')).toBe(true);
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toContain(name);
    expect(err).toContain(JSON.stringify(value));
    expectNoStackTrace(r.stderr);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('WAYPOINT_LOG_FORMAT=json: our lines as pino writes them', () => {
  /** Every line of stderr, parsed: each must be one JSON object in pino's shape. */
  function jsonLines(stderr: Buffer): Array<Record<string, unknown>> {
    const lines = stderr.toString().trimEnd().split('\n');
    return lines.map((line) => {
      const record = JSON.parse(line) as Record<string, unknown>;
      expect(record).toMatchObject({ level: expect.any(Number), time: expect.any(Number), name: 'waypoint-entrypoint', msg: expect.any(String) });
      return record;
    });
  }

  it('a missing command: one line at level 50, exit 127', async () => {
    const r = await runToEnd(['no-such-command-here'], { env: cleanEnv({ WAYPOINT_LOG_FORMAT: 'json' }) });
    expect(r.code).toBe(127);
    expect(jsonLines(r.stderr)).toEqual([expect.objectContaining({ level: 50, msg: 'no-such-command-here: command not found' })]);
  });

  it('a malformed setting: one line naming the variable, exit 2, the child never runs', async () => {
    const marker = path.join(testDir(), 'ran');
    const r = await runToEnd(['sh', '-c', 'touch "$1"', 'sh', marker], {
      env: cleanEnv({ WAYPOINT_LOG_FORMAT: 'json', WAYPOINT_CEB_STOP_TIMEOUT: 'soon' }),
    });
    expect(r.code).toBe(2);
    expect(jsonLines(r.stderr)).toEqual([
      expect.objectContaining({ level: 50, variable: 'WAYPOINT_CEB_STOP_TIMEOUT', msg: expect.stringContaining('invalid WAYPOINT_CEB_STOP_TIMEOUT="soon"') }),
    ]);
    expect(existsSync(marker)).toBe(false);
  });

  it('connected, with no server: its warnings are JSON lines too, beside the app’s own output', async () => {
    const env = cleanEnv({ ...RELAYED, WAYPOINT_LOG_LEVEL: 'warn', WAYPOINT_LOG_FORMAT: 'json' });
    const r = await runToEnd(['sh', '-c', 'echo app-out; echo app-err >&2'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('app-out\n');
    const err = r.stderr.toString().split('\n');
    expect(err).toContain('app-err');
    const ours = jsonLines(Buffer.from(err.filter((l) => l !== 'app-err').join('\n')));
    expect(ours).toContainEqual(expect.objectContaining({ level: 40, msg: expect.stringContaining('no config from the server in time') }));
  });
});

describe('command line', () => {
  it.each(['--help', '-h'])('%s prints usage on stdout and exits 0', async (flag) => {
    const r = await runToEnd([flag]);
    expect(r.code).toBe(0);
    const out = r.stdout.toString();
    expect(out).toContain('Usage: waypoint-entrypoint [options] [--] <command> [args...]');
    expect(out).toContain('WAYPOINT_CEB_STOP_TIMEOUT');
    expect(r.stderr.toString()).toBe('');
  });

  it.each(['--version', '-V'])('%s prints our version, the Node running it and the target, and exits 0', async (flag) => {
    const r = await runToEnd([flag]);
    expect(r.code).toBe(0);
    // bin/waypoint-entrypoint runs the node on PATH: the one running this test.
    expect(r.stdout.toString()).toBe(`waypoint-entrypoint ${VERSION} (node ${process.version}, ${process.platform}-${process.arch})\n`);
  });

  it('with no command prints usage on stderr and exits 2', async () => {
    const r = await runToEnd([]);
    expect(r.code).toBe(2);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr.toString()).toContain('no command given');
    expect(r.stderr.toString()).toContain('Usage: waypoint-entrypoint');
  });

  it('rejects an unknown option with exit 2 and does not run the command', async () => {
    const marker = path.join(testDir(), 'ran');
    const r = await runToEnd(['--bogus', 'sh', '-c', 'touch "$1"', 'sh', marker]);
    expect(r.code).toBe(2);
    expect(r.stderr.toString()).toContain('--bogus');
    expect(r.stdout.toString()).toBe('');
    expect(existsSync(marker)).toBe(false);
  });

  it('after -- passes the command and its arguments verbatim, options included', async () => {
    const r = await runToEnd(['--', 'sh', '-c', 'printf "[%s]\\n" "$0" "$@"', 'x', '--help', '-V', '', 'a b', '--', '*']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('[x]\n[--help]\n[-V]\n[]\n[a b]\n[--]\n[*]\n');
  });

  it('leaves options after the command to the command', async () => {
    const r = await runToEnd(['sh', '-c', 'printf "[%s]\\n" "$0" "$@"', 'x', '--version', '-h']);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('[x]\n[--version]\n[-h]\n');
  });

  it('after -- treats an option-like word as the command', async () => {
    const r = await runToEnd(['--', '--version']);
    expect(r.code).toBe(127);
    expect(r.stdout.toString()).toBe('');
    expect(r.stderr.toString()).toContain('--version: command not found');
  });
});

describe('disabled mode', () => {
  it('the socket check sees a TCP listener and a named unix listener (self-test)', async () => {
    const servers: Server[] = [];
    const listen = (s: Server, arg: number | string) =>
      new Promise<void>((resolve) => {
        servers.push(s);
        if (typeof arg === 'number') s.listen(arg, '127.0.0.1', resolve);
        else s.listen(arg, resolve);
      });
    try {
      await listen(createTcpServer(), 0);
      await listen(createTcpServer(), path.join(testDir(), 'sock'));
      const kinds = networkSockets(process.pid).map((s) => `${s.kind}${s.listening ? ' listening' : ''}`);
      expect(kinds.some((k) => k === 'tcp' || k === 'tcp6')).toBe(true);
      expect(kinds).toContain('unix listening');
    } finally {
      for (const s of servers) s.close();
    }
  });

  it.each([
    ['WAYPOINT_CEB_DISABLE=1, even with a server address', { WAYPOINT_CEB_DISABLE: '1', WAYPOINT_SERVER_ADDR: '127.0.0.1:9' }],
    ['no WAYPOINT_SERVER_ADDR', {}],
  ])('holds no network socket while the child runs (%s)', async (_, extra) => {
    const r = launch(['sh', '-c', 'echo ready; while :; do sleep 0.05; done'], { env: cleanEnv(extra) });
    await ready(r);
    // The bin launcher execs node, so the entrypoint is still the process we spawned.
    expect(readFileSync(`/proc/${r.pid}/cmdline`, 'utf8')).toContain('entrypoint.cjs');
    // Only the unnamed, connected unix socketpairs libuv uses for stdio pipes are allowed.
    expect(networkSockets(r.pid)).toEqual([]);
    expect(r.stderr().toString()).toBe('');
  });
});

describe('reader goes away', () => {
  it('relayed, gives the app real pipes: /dev/stdout and /dev/stderr can be opened (nginx logs there)', async () => {
    const r = await run(
      ['sh', '-c', '[ -p /dev/stdout ] && [ -p /dev/stderr ] && echo out > /dev/stdout && echo err > /dev/stderr'],
      { env: cleanEnv(RELAYED) },
    );
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
  });

  it('relayed, the child meets a broken pipe and we exit without a stack trace', async () => {
    const r = launch(['sh', '-c', 'yes'], { env: cleanEnv(RELAYED) });
    await withDeadline(
      new Promise((resolve) => r.proc.stdout!.once('data', resolve)),
      10_000,
      'the first output of yes',
    );
    r.proc.stdout!.destroy();
    const exit = await exitOf(r);
    expect(exit.signal).toBeNull();
    // `yes` fails as it would writing to the closed pipe itself: killed by SIGPIPE.
    expect(exit.code).toBe(141);
    expectNoStackTrace(r.stderr());
  });

  it('in disabled mode, the child meets a broken pipe on our own stdout: SIGPIPE, as under tini', async () => {
    const dir = testDir();
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const readEnd = openSync(fifo, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
    const reader = new Socket({ fd: readEnd, readable: true, writable: false });
    let r: Running;
    const writeEnd = openSync(fifo, fsConstants.O_WRONLY);
    try {
      r = launch(['sh', '-c', 'yes'], { stdio: ['pipe', writeEnd, 'pipe'] });
    } finally {
      closeSync(writeEnd);
    }
    await withDeadline(new Promise((resolve) => reader.once('data', resolve)), 10_000, 'the first output of yes');
    reader.destroy();
    const exit = await exitOf(r);
    expect(exit).toEqual({ code: 141, signal: null });
    expectNoStackTrace(r.stderr());
  });
});
