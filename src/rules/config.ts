// What a config var may be: shared by the server (the rule) and the ctl (a usage error before
// any call). Each check returns a one-line problem, or undefined when the input is fine.
import { constants } from 'node:os';

export type ConfigKind = 'static' | 'internal' | 'file';

/** POSIX shell rules: what a program can read back with getenv and a shell with $NAME. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MAX_NAME_LENGTH = 256;
/**
 * Valid POSIX names that JavaScript objects treat specially: `__proto__` is silently dropped by an
 * env object (`env[name] = v` sets the prototype), and the others invite the same kind of bug in
 * any JS reader of the config. Refused rather than half delivered.
 */
const RESERVED_NAMES: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** PATH_MAX on Linux. */
const MAX_PATH_BYTES = 4096;
/** One value (a file's content, say); what an app's whole config may weigh is in server/config/limits.ts. */
export const MAX_VALUE_BYTES = 1024 * 1024;

export function envNameProblem(name: string): string | undefined {
  if (name === '') return 'a config var needs a name';
  if (name.length > MAX_NAME_LENGTH) return `config var name ${JSON.stringify(name.slice(0, 40))}… is too long: at most ${MAX_NAME_LENGTH} characters`;
  if (!ENV_NAME.test(name)) {
    return `invalid env var name ${JSON.stringify(name)}: use letters, digits and '_', not starting with a digit`;
  }
  if (RESERVED_NAMES.has(name)) {
    return `env var name ${JSON.stringify(name)} is reserved: JavaScript objects (the entrypoint's env among them) treat it specially; pick another name`;
  }
  return undefined;
}

/**
 * A file var's name: an absolute path, or one relative to the entrypoint's working directory.
 * Only what cannot name a file is refused: empty, NUL, a trailing '/', '.' or '..' alone.
 */
export function filePathProblem(path: string): string | undefined {
  if (path === '') return 'a config file needs a path';
  if (path.includes('\0')) return `invalid file path ${JSON.stringify(path)}: it contains a NUL byte`;
  if (Buffer.byteLength(path) > MAX_PATH_BYTES) return `file path ${JSON.stringify(path.slice(0, 40))}… is too long: at most ${MAX_PATH_BYTES} bytes`;
  if (path.endsWith('/')) return `invalid file path ${JSON.stringify(path)}: it names a directory (trailing '/')`;
  const last = path.slice(path.lastIndexOf('/') + 1);
  if (last === '.' || last === '..') return `invalid file path ${JSON.stringify(path)}: it names a directory`;
  return undefined;
}

export function nameProblem(kind: ConfigKind, name: string): string | undefined {
  return kind === 'file' ? filePathProblem(name) : envNameProblem(name);
}

/**
 * The value's bytes must be UTF-8 (Waypoint carries every value as a proto string) and not
 * empty (an empty static value means "unset" on the wire); env values cannot hold NUL.
 */
export function valueProblem(kind: ConfigKind, name: string, value: Uint8Array): string | undefined {
  const what = kind === 'file' ? `file ${JSON.stringify(name)}` : JSON.stringify(name);
  if (value.length === 0) {
    return `${what} would be empty, which Waypoint's protocol reads as unset: use config unset to remove it`;
  }
  if (value.length > MAX_VALUE_BYTES) return `the value of ${what} is ${value.length} bytes: at most ${MAX_VALUE_BYTES} (1 MiB)`;
  if (!isUtf8(value)) return `the value of ${what} is not valid UTF-8: Waypoint's protocol carries config values as text`;
  if (kind !== 'file' && value.includes(0)) return `the value of ${what} contains a NUL byte, which an env var cannot hold`;
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

export type SignalParse = { ok: true; signal: string } | { ok: false; problem: string };

/** "usr2", "SIGUSR2", "SigUsr2" → "SIGUSR2"; empty means none. Names are this system's. */
export function parseSignalName(text: string): SignalParse {
  const trimmed = text.trim();
  if (trimmed === '') return { ok: true, signal: '' };
  const upper = trimmed.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (!(name in constants.signals)) {
    return { ok: false, problem: `unknown signal ${JSON.stringify(trimmed)}: use a name such as SIGHUP or SIGUSR2` };
  }
  if (name === 'SIGKILL' || name === 'SIGSTOP') {
    return { ok: false, problem: `${name} cannot be a file change signal: the app could not handle it` };
  }
  return { ok: true, signal: name };
}
