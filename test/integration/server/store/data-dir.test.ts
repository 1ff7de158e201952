// The server's data dir as an operator's machine has it: a dir made beforehand with loose modes
// (L3), a full disk at start (M8) and during writes (D1), and a listen address others can reach
// without TLS (L11). The full disk is a real one: a 2 MiB tmpfs, mounted in a mount namespace of
// the server's own (unshare), so that nothing outlives the test.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanEnv, killAll, run, type Running, start, withDeadline } from '../../../helpers/run.js';
import { FakeEntrypoint } from '../../../helpers/fake-entrypoint.js';
import { CTL, logRecords, startServer, stopServers } from '../../../helpers/server.js';

const dirs: string[] = [];

afterEach(async () => {
  await stopServers();
  killAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-data-dir-test-'));
  dirs.push(dir);
  return dir;
}

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);

interface Launched {
  proc: Running;
  env: NodeJS.ProcessEnv;
}

/** `server run` through `bin` (a shell that sets the umask, unshare): ready once it listens. */
async function launch(root: string, bin: string, args: string[]): Promise<Launched> {
  const env = cleanEnv({ XDG_CONFIG_HOME: path.join(root, 'config') });
  const proc = start(args, { bin, env });
  const ready = proc.waitForOutput(/listening on \S+:\d+/).then(
    () => 'ready' as const,
    (err: Error) => err,
  );
  const first = await Promise.race([ready, proc.exited]);
  if (first !== 'ready') throw new Error(`the server did not start: ${proc.stderr().toString().trim()}`);
  return { proc, env };
}

const serverArgs = (dataDir: string, listen = '127.0.0.1:0') => ['server', 'run', '--listen', listen, '--data-dir', dataDir, '--http-listen', 'off'];

/** With umask 0: whatever the server creates is as open as its own modes allow. */
const launchUmask0 = (root: string, dataDir: string) =>
  launch(root, '/bin/sh', ['-c', 'umask 0; exec "$0" "$@"', CTL, ...serverArgs(dataDir)]);

async function stop(server: Launched): Promise<void> {
  server.proc.proc.kill('SIGTERM');
  await withDeadline(server.proc.exited, 10_000, 'the server to stop');
}

const ctl = (server: Launched, args: string[]) => run(args, { bin: CTL, env: server.env });

describe('the data dir is private', () => {
  it('L3: a dir made beforehand 0755 (umask 0) becomes 0700, state.db, its WAL, the key and any file 0600; one info line', async () => {
    const root = tempDir();
    const dataDir = path.join(root, 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    writeFileSync(path.join(dataDir, 'notes'), 'x', { mode: 0o644 });
    chmodSync(path.join(dataDir, 'notes'), 0o644);

    const server = await launchUmask0(root, dataDir);
    const set = await ctl(server, ['config', 'set', '--app', 'shop', '--internal', 'DB_PASS=s3cret-hunter2']);
    expect(set.code, set.stderr.toString()).toBe(0);
    expect(mode(dataDir)).toBe('700');
    for (const f of ['state.db', 'state.db-wal', 'signing.key', 'notes']) expect(mode(path.join(dataDir, f)), f).toBe('600');
    const lines = logRecords(server.proc.stderr()).filter((r) => /made private/.test(r.msg));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 30, msg: 'data dir made private: others could read it', dir: dataDir, modes: '. 0755→0700, notes 0644→0600' });
    await stop(server);

    // Loosened again while it was down: tightened again at the next start, files the server made included.
    chmodSync(path.join(dataDir, 'state.db'), 0o644);
    chmodSync(path.join(dataDir, 'signing.key'), 0o640);
    const again = await launchUmask0(root, dataDir);
    expect(mode(path.join(dataDir, 'state.db'))).toBe('600');
    expect(mode(path.join(dataDir, 'signing.key'))).toBe('600');
    const tightened = logRecords(again.proc.stderr()).find((r) => /made private/.test(r.msg));
    expect(tightened?.modes).toMatch(/^(signing.key 0640→0600, state.db 0644→0600|state.db 0644→0600, signing.key 0640→0600)$/);
    await stop(again);

    // Private already: nothing to say.
    const quiet = await launchUmask0(root, dataDir);
    expect(quiet.proc.stderr().toString()).not.toMatch(/made private/);
    await stop(quiet);
  });
});

describe('a full disk', () => {
  it('M8, D1: the server starts with its key on a full 2 MiB tmpfs; writes answer RESOURCE_EXHAUSTED; freed space, they work again', async () => {
    const root = tempDir();
    const seed = path.join(root, 'seed');
    const first = await launch(root, CTL, serverArgs(seed));
    expect((await ctl(first, ['config', 'set', '--app', 'shop', 'A=1'])).code).toBe(0);
    await stop(first);

    const { server, mnt } = await launchOnFullDisk(root, seed);
    expect(server.proc.stderr().toString()).not.toMatch(/signing key/);

    const refused = await ctl(server, ['config', 'set', '--app', 'shop', 'B=2']);
    expect(refused.code).toBe(1);
    expect(refused.stderr.toString()).toMatch(/answered RESOURCE_EXHAUSTED: the server's data dir is out of disk space: nothing was changed; free some space/);
    const log = logRecords(server.proc.stderr());
    expect(log.find((r) => /^SetConfig failed/.test(r.msg))).toMatchObject({ level: 40, msg: expect.stringMatching(/^SetConfig failed: the server's data dir is out of disk space/) });
    expect(log.filter((r) => r.level >= 50 || /internal server error/.test(r.msg))).toEqual([]);
    expect((await ctl(server, ['config', 'get', '--app', 'shop'])).stdout.toString()).toMatch(/^A\s+app\s+static\s+1$/m);

    // The tmpfs as the server sees it, through its own root: free it, and writes work again.
    rmSync(path.join(`/proc/${server.proc.pid}/root`, mnt, 'fill'));
    const ok = await ctl(server, ['config', 'set', '--app', 'shop', 'B=2']);
    expect(ok.code, ok.stderr.toString()).toBe(0);
    const after = (await ctl(server, ['config', 'get', '--app', 'shop'])).stdout.toString();
    expect(after).toMatch(/^A\s+app\s+static\s+1$/m);
    expect(after).toMatch(/^B\s+app\s+static\s+2$/m);
  });
});

/** `server run` on a copy of `seed` on a fresh 2 MiB tmpfs, the rest of it filled. */
async function launchOnFullDisk(root: string, seed: string): Promise<{ server: Launched; mnt: string }> {
  const mnt = path.join(root, 'mnt');
  mkdirSync(mnt);
  const script = 'mount -t tmpfs -o size=2m tmpfs "$1" && cp -a "$2"/. "$1"/ && { dd if=/dev/zero of="$1/fill" bs=4096 2>/dev/null; true; } && shift 2 && exec "$@"';
  const args = ['--mount', '--propagation', 'private', '/bin/sh', '-c', script, 'sh', mnt, seed, CTL, ...serverArgs(mnt)];
  return { server: await launch(root, '/usr/bin/unshare', args), mnt };
}

describe('a full disk after a crash', () => {
  it('M8: exec sessions left running by a kill -9 cannot be marked failed on a full disk: a warning, and the server starts', async () => {
    const seed = await startServer({ http: false });
    const ep = await FakeEntrypoint.connect(seed, 'web');
    seed.startCtl(['exec', '--app', 'web', '-T', '--', 'hang']);
    await ep.waitForSessions(1);
    await seed.stop({ signal: 'SIGKILL' });

    const { server } = await launchOnFullDisk(tempDir(), seed.dataDir);
    expect(logRecords(server.proc.stderr())).toContainEqual(expect.objectContaining({
      level: 40,
      msg: 'exec sessions cut short by the last stop could not be recorded as failed: the data dir is out of disk space',
    }));
    expect((await ctl(server, ['deployment', 'list'])).code).toBe(0);
  });
});

describe('plaintext gRPC', () => {
  it('L11: --listen on an address others can reach, without TLS: one warning that tokens travel in clear; none on loopback', async () => {
    const root = tempDir();
    const open = await launch(root, CTL, serverArgs(path.join(root, 'a'), '0.0.0.0:0'));
    const warnings = logRecords(open.proc.stderr()).filter((r) => /in clear/.test(r.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, listen: expect.stringMatching(/^0\.0\.0\.0:\d+$/) });
    expect(warnings[0].msg).toMatch(/^gRPC without TLS on an address other machines can reach: every token .* travels in clear; pass --tls-cert and --tls-key, or listen on 127\.0\.0\.1$/);
    await stop(open);
    const local = await launch(root, CTL, serverArgs(path.join(root, 'b')));
    expect(local.proc.stderr().toString()).not.toMatch(/in clear/);
    await stop(local);
  });
});
