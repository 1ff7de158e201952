// `waypoint-ctl server migrate`: a SQLite server's data dir copied into an empty PostgreSQL
// database, after which `server run --database` serves the same state (store/copy-to-postgres.ts).
import type { Command } from 'commander';
import { writeLine } from '../../log.js';
import { CtlError, UsageError } from '../errors.js';
import { DATABASE_URL_ENV, databaseUrl } from '../database-url.js';

interface MigrateOptions {
  fromDataDir: string;
  database?: string;
}

export function serverMigrateCommand(server: Command): void {
  server
    .command('migrate')
    .description("copy a stopped SQLite server's state (apps, deployments, config, tokens and their key, exec history) into an empty PostgreSQL database")
    .requiredOption('--from-data-dir <dir>', "the SQLite server's --data-dir (that server stopped)")
    .option('--database <url>', `the PostgreSQL database to fill (postgres://user:password@host:5432/db; default: $${DATABASE_URL_ENV})`)
    .action((opts: MigrateOptions) => migrate(opts));
}

async function migrate(opts: MigrateOptions): Promise<void> {
  const url = databaseUrl(opts.database);
  if (!url) throw new UsageError(`server migrate needs --database (or $${DATABASE_URL_ENV}): the PostgreSQL database to copy into`);
  const { copyToPostgres } = await import('../../server/store/copy-to-postgres.js');
  const { redactUrl } = await import('../../server/store/open.js');
  let summary;
  try {
    summary = await copyToPostgres(opts.fromDataDir, url);
  } catch (err) {
    throw new CtlError(`cannot migrate into ${redactUrl(url)}: ${(err as Error).message}`);
  }
  const lines = [`copied ${opts.fromDataDir} into ${redactUrl(url)}:`, ...summary.counts.map((c) => `  ${c.rows} ${c.noun}`), '  the token signing key'];
  lines.push(`now run: waypoint-ctl server run --database <url> (every token issued before stays valid)`);
  writeLine(1, lines.map((l) => `${l}\n`).join(''));
}
