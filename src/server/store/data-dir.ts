// The server's data directory: the SQLite state and the token signing key. Both are secrets
// (the key mints tokens, the state holds internal config values), so the directory is 0700 and
// every file in it 0600, whatever existed before and whatever the umask.
import { randomBytes } from 'node:crypto';
import { chmodSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MIN_KEY_BYTES } from '../auth/tokens.js';

export const STATE_FILE = 'state.db';
export const KEY_FILE = 'signing.key';

/** A problem with the data dir that the operator must fix; one line, with what to do. */
export class DataDirError extends Error {}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;

export interface DataDir {
  dir: string;
  /** What was tightened, as "name 0755→0700": worth one info line. */
  tightened: string[];
  /** What could not be (a file system without modes, another owner): worth a warning, not a refusal. */
  exposed: string[];
}

/**
 * Creates the dir (0700), or makes an existing one private: the dir 0700, each file in it 0600.
 * The state file is created empty here, 0600, when missing: SQLite gives its WAL and journal the
 * database file's mode, so they are private from their first byte too.
 */
export function ensureDataDir(dir: string): DataDir {
  const abs = path.resolve(dir);
  try {
    mkdirSync(abs, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw new DataDirError(`cannot create the data dir ${abs}: ${(err as Error).message}`);
  }
  if (!statSync(abs).isDirectory()) throw new DataDirError(`the data dir ${abs} is not a directory`);
  const modes: Modes = { tightened: [], exposed: [] };
  tighten(abs, DIR_MODE, '.', modes);
  try {
    writeFileSync(path.join(abs, STATE_FILE), '', { flag: 'a', mode: FILE_MODE });
  } catch (err) {
    throw new DataDirError(`cannot create ${path.join(abs, STATE_FILE)}: ${(err as Error).message}`);
  }
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    if (entry.isFile()) tighten(path.join(abs, entry.name), FILE_MODE, entry.name, modes);
  }
  return { dir: abs, ...modes };
}

interface Modes {
  tightened: string[];
  exposed: string[];
}

/** chmod to `mode` when group or others have any access (an owner-only mode is left as it is). */
function tighten(file: string, mode: number, name: string, modes: Modes): void {
  const current = statSync(file).mode & 0o777;
  if ((current & 0o077) === 0) return;
  const octal = (m: number) => m.toString(8).padStart(4, '0');
  try {
    chmodSync(file, mode);
  } catch (err) {
    modes.exposed.push(`${name} ${octal(current)} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    return;
  }
  modes.tightened.push(`${name} ${octal(current)}→${octal(mode)}`);
}

export interface SigningKey {
  key: Buffer;
  created: boolean;
}

/**
 * Reads the signing key, creating it (0600, exclusively: two starts never race) only when it is
 * missing: a start on a full disk needs no byte written for a key that exists.
 */
export function loadOrCreateKey(dataDir: string): SigningKey {
  const file = path.join(dataDir, KEY_FILE);
  const created = !exists(file) && createKey(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new DataDirError(`cannot read the signing key ${file}: ${(err as Error).message}`);
  }
  const key = Buffer.from(text, 'hex');
  if (key.length < MIN_KEY_BYTES || key.toString('hex') !== text.toLowerCase()) {
    throw new DataDirError(
      `the signing key ${file} is damaged (expected ${MIN_KEY_BYTES * 2} hex digits): restore it from a backup; ` +
        'deleting it invalidates every token the server issued',
    );
  }
  return { key, created };
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new DataDirError(`cannot read the signing key ${file}: ${(err as Error).message}`);
  }
}

/**
 * Writes the key to a private temp file, then links it into place: link fails if the key exists,
 * so two first starts never race, and a crash mid-write never leaves a truncated key behind.
 */
function createKey(file: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${randomBytes(MIN_KEY_BYTES).toString('hex')}\n`, { mode: FILE_MODE, flag: 'wx' });
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && exists(file)) return false;
    throw new DataDirError(`cannot create the signing key ${file}: ${(err as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}
