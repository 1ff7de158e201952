// The PostgreSQL URL of `server run` and `server migrate`: `--database`, else the environment.
import { UsageError } from './errors.js';

export const DATABASE_URL_ENV = 'WAYPOINT_DATABASE_URL';

/** `--database`, else $WAYPOINT_DATABASE_URL; undefined: neither (SQLite in the data dir). */
export function databaseUrl(flag: string | undefined): string | undefined {
  const [name, value] = flag !== undefined ? ['--database', flag] : [DATABASE_URL_ENV, process.env[DATABASE_URL_ENV]];
  if (!value) return undefined;
  if (!/^postgres(ql)?:\/\//.test(value)) {
    throw new UsageError(`${name} must be a PostgreSQL URL: postgres://user:password@host:5432/db`);
  }
  return value;
}
