// A throwaway PostgreSQL cluster for tests: Debian's `postgresql` package (scripts/system-deps.sh
// installs it), `initdb` in a temp dir as an unprivileged user (PostgreSQL refuses to run as
// root: `postgres` when we are root, else ourselves), started on a free 127.0.0.1 port with its
// socket in the temp dir; durability off (fsync), as nothing here outlives the test. Stop it
// (and remove its dir) with `stop()`.
//
//   const pg = await startPostgres();
//   const url = await pg.createDatabase();   // a fresh database: postgres://waypoint@127.0.0.1:<port>/wp_…
//   await pg.restart();                      // stopped (fast) and started again, same port and data
//   await pg.stop();
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './server.js';

export interface PgCluster {
  port: number;
  /** The URL of a database of the cluster (default: the `postgres` one, for admin statements). */
  url(database?: string): string;
  /** Creates a database of its own (a unique name) and returns its URL. */
  createDatabase(): Promise<string>;
  /** Stops the server, keeping its data (fast shutdown: sessions are cut, nothing committed is lost). */
  pause(): void;
  resume(): void;
  restart(): void;
  stop(): Promise<void>;
}

const USER = 'waypoint';

/** The bin dir of the newest PostgreSQL installed (/usr/lib/postgresql/<major>/bin). */
export function postgresBin(): string {
  const base = '/usr/lib/postgresql';
  let majors: string[];
  try {
    majors = readdirSync(base).filter((d) => /^\d+$/.test(d));
  } catch {
    majors = [];
  }
  if (majors.length === 0) throw new Error(`no PostgreSQL under ${base}: run scripts/system-deps.sh (it installs Debian's postgresql)`);
  return path.join(base, majors.sort((a, b) => Number(b) - Number(a))[0], 'bin');
}

/** Runs a PostgreSQL program as the cluster's owner. */
function asOwner(bin: string, args: string[]): void {
  const owner = process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  const [cmd, ...rest] = [...owner, bin, ...args];
  try {
    execFileSync(cmd, rest, { stdio: 'pipe', timeout: 60_000 });
  } catch (err) {
    const e = err as { stderr?: Buffer; message: string };
    throw new Error(`${path.basename(bin)} failed: ${e.stderr?.toString().trim() || e.message}`);
  }
}

export async function startPostgres(): Promise<PgCluster> {
  const bin = postgresBin();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  const pgCtl = (...args: string[]) => asOwner(path.join(bin, 'pg_ctl'), ['-D', data, '-l', path.join(dir, 'log'), ...args]);
  try {
    asOwner(path.join(bin, 'initdb'), ['-D', data, '-U', USER, '-A', 'trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
    pgCtl('-o', options, '-w', 'start');
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const url = (database = 'postgres') => `postgres://${USER}@127.0.0.1:${port}/${database}`;
  let databases = 0;
  return {
    port,
    url,
    createDatabase: () => createDatabase(url(), `wp_${process.pid}_${++databases}`),
    pause: () => pgCtl('-m', 'fast', '-w', 'stop'),
    resume: () => pgCtl('-o', options, '-w', 'start'),
    restart: () => pgCtl('-o', options, '-m', 'fast', '-w', 'restart'),
    async stop() {
      try {
        // Not when a test left it paused: nothing runs to stop.
        if (existsSync(path.join(data, 'postmaster.pid'))) pgCtl('-m', 'immediate', '-w', 'stop');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

let created = 0;

/** Creates a database named `name` (default: unique to this process) through `adminUrl`; returns its URL. */
export async function createDatabase(adminUrl: string, name = `wp_${process.pid}_${Date.now()}_${++created}`): Promise<string> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
