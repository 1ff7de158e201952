// A throwaway PostgreSQL cluster for a bench (as test/helpers/postgres.ts makes one for tests):
// Debian's `postgresql` package, `initdb` in a temp dir as an unprivileged user (`postgres` when
// we are root: PostgreSQL refuses to run as root), started on a free 127.0.0.1 port with its
// socket in the temp dir. Durability is off (fsync, synchronous_commit, full_page_writes): nothing
// outlives the bench, and its numbers are then those of the server, not of this machine's disk.
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { freePort, ROOT } from './lib.mjs';

const USER = 'waypoint';
export const DURABILITY_OFF = 'fsync=off, synchronous_commit=off, full_page_writes=off';

function postgresBin() {
  const base = '/usr/lib/postgresql';
  const majors = existsSync(base) ? readdirSync(base).filter((d) => /^\d+$/.test(d)) : [];
  if (majors.length === 0) throw new Error(`no PostgreSQL under ${base}: run scripts/system-deps.sh (it installs Debian's postgresql)`);
  return path.join(base, majors.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

function asOwner(bin, args) {
  const owner = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  const [cmd, ...rest] = [...owner, bin, ...args];
  try {
    execFileSync(cmd, rest, { stdio: 'pipe', timeout: 60_000 });
  } catch (err) {
    throw new Error(`${path.basename(bin)} failed: ${err.stderr?.toString().trim() || err.message}`);
  }
}

/** Starts a cluster with one database; returns its URL, the postmaster's pid, and stop(). */
export async function startPostgres() {
  const bin = postgresBin();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-pg-'));
  if (process.getuid?.() === 0) {
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'])), Number(execFileSync('id', ['-g', 'postgres'])));
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c ${DURABILITY_OFF.split(', ').join(' -c ')}`;
  const pgCtl = (...args) => asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), ...args]);
  let started = false;
  const stop = () => {
    try {
      if (started && existsSync(path.join(data, 'postmaster.pid'))) pgCtl('-m', 'immediate', '-w', 'stop');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  try {
    asOwner(path.join(bin, 'initdb'), ['-D', data, '-U', USER, '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    pgCtl('-o', options, '-w', 'start');
    started = true;
    const pg = createRequire(path.join(ROOT, 'package.json'))('pg');
    const admin = new pg.Client({ connectionString: `postgres://${USER}@127.0.0.1:${port}/postgres` });
    await admin.connect();
    try {
      await admin.query('CREATE DATABASE waypoint');
    } finally {
      await admin.end();
    }
  } catch (err) {
    stop();
    throw err;
  }
  const pid = Number(readFileSync(path.join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return { url: `postgres://${USER}@127.0.0.1:${port}/waypoint`, pid, stop };
}
