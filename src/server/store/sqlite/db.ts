// Opening the SQLite state: WAL, an exclusive lock (one server per data dir), and the schema
// brought up to date by numbered migrations tracked in PRAGMA user_version.
import Database from 'better-sqlite3';
import { DataDirError } from '../data-dir.js';

export type Db = Database.Database;

/** Append only: a released migration is never edited, a change is a new entry. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE apps (
    name       TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL          -- ms since the epoch
  );
  CREATE TABLE deployments (
    id         TEXT PRIMARY KEY,         -- ulid: sorts by creation
    app        TEXT NOT NULL REFERENCES apps(name),
    labels     TEXT NOT NULL DEFAULT '{}', -- JSON object of string values
    created_at INTEGER NOT NULL
  );
  CREATE INDEX deployments_app ON deployments(app, id);
  -- Every token issued: the signed claims are the token, this row is what makes it valid
  -- (a revoked or unknown id is refused even with a good signature).
  CREATE TABLE tokens (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('operator', 'invite', 'entrypoint')),
    deployment_id TEXT REFERENCES deployments(id),
    parent_id     TEXT REFERENCES tokens(id), -- the invite an entrypoint token came from
    issued_at     INTEGER NOT NULL,           -- the claims' iat, in seconds
    revoked_at    INTEGER
  );
  CREATE INDEX tokens_deployment ON tokens(deployment_id, kind);
  `,
  `
  -- Sent to an app's instances after they write changed config files; '' for none.
  ALTER TABLE apps ADD COLUMN file_change_signal TEXT NOT NULL DEFAULT '';
  -- App config. One namespace per scope: a name is an env var or a file path, never both.
  CREATE TABLE config_vars (
    app        TEXT NOT NULL,            -- '' for global, else an app name
    name       TEXT NOT NULL,            -- env var name, or file path (kind 'file')
    kind       TEXT NOT NULL CHECK (kind IN ('static', 'internal', 'file')),
    value      BLOB NOT NULL,            -- bytes as given (UTF-8 text)
    updated_at INTEGER NOT NULL,         -- ms since the epoch
    PRIMARY KEY (app, name)
  );
  `,
  `
  -- Exec sessions, for the audit trail. The id is also the exec index the instance sees:
  -- AUTOINCREMENT never hands out an id again, even after a restart, so an entrypoint that
  -- remembers which indexes it opened never takes a new request for an old one.
  CREATE TABLE exec_sessions (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    app               TEXT NOT NULL,
    deployment_id     TEXT NOT NULL,
    instance_id       TEXT NOT NULL,
    args              TEXT NOT NULL,          -- JSON array of strings
    tty               INTEGER NOT NULL,       -- 0 or 1
    operator_token_id TEXT NOT NULL,          -- who asked (a token id, never the token)
    operator_address  TEXT NOT NULL,
    started_at        INTEGER NOT NULL,       -- ms since the epoch
    ended_at          INTEGER,
    state             TEXT NOT NULL CHECK (state IN ('RUNNING', 'EXITED', 'FAILED')),
    exit_code         INTEGER,
    error             TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX exec_sessions_app ON exec_sessions(app, id);
  CREATE INDEX exec_sessions_instance ON exec_sessions(instance_id, id);
  CREATE INDEX exec_sessions_running ON exec_sessions(state) WHERE state = 'RUNNING';
  `,
  `
  -- When an invite stops being exchangeable, in seconds; NULL: never (entrypoint and operator
  -- tokens, and the invites issued before invites expired).
  ALTER TABLE tokens ADD COLUMN expires_at INTEGER;
  -- The entrypoint tokens of an invite: revoked with it, and counted.
  CREATE INDEX tokens_parent ON tokens(parent_id);
  `,
  `
  -- Dynamic vars (issue 15): read by the instance itself from the source named here; their
  -- value column holds the var's own config (a JSON object of strings, e.g. Vault's path), never
  -- a value read from the source. NULL: a static value.
  ALTER TABLE config_vars ADD COLUMN dynamic_from TEXT;
  -- The settings of each config source type, per scope ('' global, else an app): a JSON object
  -- of strings (an address, a token...). Sent to the instances of an app with dynamic vars.
  CREATE TABLE config_sources (
    app        TEXT NOT NULL,
    type       TEXT NOT NULL,
    settings   TEXT NOT NULL,
    updated_at INTEGER NOT NULL,         -- ms since the epoch
    PRIMARY KEY (app, type)
  );
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function openDb(file: string): Db {
  let db: Db;
  try {
    // timeout 0: a data dir held by another server is an immediate, clear error, not a hang.
    db = new Database(file, { timeout: 0 });
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.exec('BEGIN EXCLUSIVE; COMMIT'); // take the lock now, for the life of the process
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') {
      throw new DataDirError(`${file} is in use by another server: stop it, or pass another --data-dir`);
    }
    throw new DataDirError(`cannot open ${file}: ${(err as Error).message}`);
  }
  migrate(db, file);
  return db;
}

function migrate(db: Db, file: string): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > SCHEMA_VERSION) {
    db.close();
    throw new DataDirError(
      `${file} has schema version ${current}, newer than this waypoint-ctl knows (${SCHEMA_VERSION}): upgrade waypoint-ctl`,
    );
  }
  // Nothing written when up to date: a server must start on a full disk.
  if (current === SCHEMA_VERSION) return;
  const apply = db.transaction(() => {
    for (let v = current; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]);
    db.pragma(`user_version = ${SCHEMA_VERSION}`);
  });
  apply();
}
