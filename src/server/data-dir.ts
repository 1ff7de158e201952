// The server's data directory: the SQLite state and the token signing key. Both are secrets
// (the key mints tokens), so the directory is private to its owner.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MIN_KEY_BYTES } from './tokens.js';

export const STATE_FILE = 'state.db';
export const KEY_FILE = 'signing.key';

/** A problem with the data dir that the operator must fix; one line, with what to do. */
export class DataDirError extends Error {}

export function ensureDataDir(dir: string): string {
  const abs = path.resolve(dir);
  try {
    mkdirSync(abs, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new DataDirError(`cannot create the data dir ${abs}: ${(err as Error).message}`);
  }
  if (!statSync(abs).isDirectory()) throw new DataDirError(`the data dir ${abs} is not a directory`);
  return abs;
}

export interface SigningKey {
  key: Buffer;
  created: boolean;
  /** Set when the key file is readable by others: worth a warning, not a refusal. */
  exposed: boolean;
}

/** Reads the signing key, creating it (0600, exclusively: two starts never race) on first use. */
export function loadOrCreateKey(dataDir: string): SigningKey {
  const file = path.join(dataDir, KEY_FILE);
  const created = createKey(file);
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
  return { key, created, exposed: (statSync(file).mode & 0o077) !== 0 };
}

/**
 * Writes the key to a private temp file, then links it into place: link fails if the key exists,
 * so two first starts never race, and a crash mid-write never leaves a truncated key behind.
 */
function createKey(file: string): boolean {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, `${randomBytes(MIN_KEY_BYTES).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    linkSync(tmp, file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && existsSync(file)) return false;
    throw new DataDirError(`cannot create the signing key ${file}: ${(err as Error).message}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}
