// The server's data disk full: its data dir on a small tmpfs, an entrypoint connected, the disk
// filled to the last byte. Then: `config set` fails with a clear one-line error (no stack
// trace), the app and its registration are untouched, a SIGKILL and restart of the server on
// the full disk works (audit M8), and once space is freed every var set before is still there.
import { spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { reconnectBoundMs, SLACK_MS } from './cycles.mjs';
import { CONNECTED, Entrypoint } from './entrypoint.mjs';
import { isRunning, trackDir, trackMount, untrackMount, waitFor } from './processes.mjs';
import { FaultServer, freePort } from './server.mjs';

const APP = 'diskfull';
const TMPFS_SIZE = '4m';
/** The vars set before the disk fills: they must all survive. */
const BEFORE = Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`BEFORE_${i}`, `value-${i}-${'v'.repeat(200)}`]));

/** Fills the filesystem of `dir` to the last byte; returns the bytes written. */
function fill(file) {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let total = 0;
  try {
    for (let size = chunk.length; size >= 1; ) {
      try {
        total += writeSync(fd, chunk, 0, size);
      } catch (err) {
        if (err.code !== 'ENOSPC') throw err;
        size >>= 1; // the last pages: smaller writes until not one byte fits
      }
    }
  } finally {
    closeSync(fd);
  }
  return total;
}

/** A clear error: non-zero exit, one line on stderr, no stack frame, says what happened. */
export function clearError(r) {
  const text = r.stderr.trim();
  const problems = [];
  if (r.code === 0) problems.push('it succeeded');
  if (/^\s+at /m.test(r.stderr)) problems.push('a stack trace');
  if (text.split('\n').length !== 1) problems.push(`${text.split('\n').length} lines`);
  if (!/full|space|ENOSPC/i.test(text)) problems.push('no word of a full disk');
  return problems;
}

async function configVars(server) {
  const r = await server.ctl(['config', 'get', '--app', APP, '--json']);
  if (r.code !== 0) return { error: `config get exited ${r.code}: ${r.stderr.trim()}` };
  return { vars: Object.fromEntries(JSON.parse(r.stdout).vars.map((v) => [v.name, v.value])) };
}

function missingVars(vars) {
  return Object.entries(BEFORE)
    .filter(([k, v]) => vars[k] !== v)
    .map(([k]) => k);
}

/** Runs the disk-full part; results into ctx.disk, checks through ctx.check. */
export async function diskFull(ctx, bin) {
  const { check } = ctx;
  const d = {};
  ctx.disk = d;
  const root = mkdtempSync(path.join(os.tmpdir(), 'wp-fault-disk-'));
  trackDir(root);
  const mnt = path.join(root, 'mnt');
  mkdirSync(mnt);
  const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE},mode=0700`, 'tmpfs', mnt], { encoding: 'utf8' });
  if (mount.status !== 0) {
    d.skipped = `cannot mount a tmpfs here (${(mount.stderr || mount.error?.message || '').trim()}): the disk-full part is skipped`;
    console.log(`SKIPPED: ${d.skipped}`);
    return;
  }
  trackMount(mnt);
  const configHome = path.join(root, 'config');
  mkdirSync(configHome);
  const server = new FaultServer({ dataDir: path.join(mnt, 'data'), configHome, port: await freePort(), httpPort: await freePort() });
  let ep;
  try {
    await server.start();
    const created = await server.ctl(['deployment', 'create', APP, '--json']);
    if (created.code !== 0) throw new Error(`deployment create failed: ${created.stderr.trim()}`);
    const set = await server.ctl(['config', 'set', '--app', APP, ...Object.entries(BEFORE).map(([k, v]) => `${k}=${v}`)]);
    if (set.code !== 0) throw new Error(`config set before the disk filled failed: ${set.stderr.trim()}`);
    ep = new Entrypoint({ bin, env: JSON.parse(created.stdout).env, intervalMs: 100 });
    const connected = await ep.waitEvent(0, CONNECTED, 20_000);
    if (!connected) throw new Error(`the entrypoint did not connect: ${ep.tail()}`);
    const app = await ep.app();

    d.filledBytes = fill(path.join(mnt, 'filler'));
    const full = await server.ctl(['config', 'set', '--app', APP, `DURING=${'d'.repeat(4000)}`]);
    d.setError = full.stderr.trim();
    const problems = clearError(full);
    check('disk full: config set fails with a clear one-line error', problems.length === 0, problems.length ? `${problems.join(', ')}: ${JSON.stringify(full.stderr.trim().slice(0, 300))}` : d.setError);

    const reading = await configVars(server);
    const unread = reading.vars ? missingVars(reading.vars) : [];
    check('disk full: config get still reads every var', reading.vars !== undefined && unread.length === 0, reading.error ?? (unread.length ? `missing: ${unread.join(' ')}` : ''), { quiet: true });

    const killedAt = Date.now();
    await server.kill9();
    try {
      const readyAt = await server.start({ timeoutMs: 15_000 });
      d.restart = 'ok';
      const control = server.control();
      const bound = reconnectBoundMs(readyAt - killedAt);
      const listed = await waitFor(
        async () => {
          try {
            return (await control.instances(APP)).some((i) => i.id === ep.instanceId);
          } catch {
            return false;
          }
        },
        { timeoutMs: bound + SLACK_MS },
      );
      control.close();
      check('disk full: the entrypoint re-registers with the restarted server', listed === true, listed ? '' : `not listed within ${bound} ms`);
    } catch (err) {
      d.restart = err.message.split('\n').find((l) => /ENOSPC|full|error/i.test(l)) ?? err.message.slice(0, 300);
    }
    check('disk full: SIGKILL and restart of the server on the full disk works (audit M8)', d.restart === 'ok', d.restart);
    const appKept = isRunning(app.pid) && ep.alive();
    check('disk full: the app kept running (same pid)', appKept, `pid ${app.pid}`);

    rmSync(path.join(mnt, 'filler'));
    if (!server.running()) await server.start();
    const after = await configVars(server);
    // All that was set before, and nothing of the set that failed.
    const missing = after.vars ? [...missingVars(after.vars), ...(full.code !== 0 && 'DURING' in after.vars ? ['DURING (its set failed)'] : [])] : [];
    d.intact = after.error ?? (missing.length ? `missing, changed or unexpected: ${missing.join(' ')}` : `all ${Object.keys(BEFORE).length} vars, none of the failed set`);
    check('disk full: every var set before is intact after freeing space', after.vars !== undefined && missing.length === 0, d.intact);
    const again = await server.ctl(['config', 'set', '--app', APP, 'AFTER=1']);
    check('disk full: config set works again once space is freed', again.code === 0, again.code === 0 ? '' : again.stderr.trim());
  } finally {
    await ep?.stop();
    await server.kill9();
    const um = spawnSync('umount', [mnt], { encoding: 'utf8' });
    if (um.status === 0) untrackMount(mnt);
  }
}
