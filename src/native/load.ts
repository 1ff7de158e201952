// Loads our native addons (native/posix.c, node-pty's pty.node). From the npm package they are
// plain files; inside the single binary they are SEA assets, written to a file without a name
// (O_TMPFILE) and dlopen'ed through /proc/self/fd, else to a private directory, dlopen'ed and
// deleted at once. Some mounts are noexec (/dev/shm in Docker, hardened /tmp), so the
// directory falls back through WAYPOINT_CEB_NATIVE_DIR, the tmpdir, the binary's dir.
import { closeSync, constants, mkdtempSync, openSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export type NativeAddon = 'posix' | 'pty';

declare const __filename: string; // the bundle is CommonJS

let nativeDirSetting: string | undefined;

/** WAYPOINT_CEB_NATIVE_DIR, from the settings: first place to try in the single binary. */
export function setNativeDir(dir: string | undefined): void {
  nativeDirSetting = dir;
}

interface SeaModule {
  isSea(): boolean;
  getRawAsset(key: string): ArrayBuffer;
}

function seaModule(): SeaModule | undefined {
  try {
    const sea = require('node:sea') as SeaModule;
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

/** Each addon is loaded (or fails to load) once: a failure is not retried on every use. */
const loaded = new Map<NativeAddon, { addon: unknown } | { error: Error }>();

export function loadNative<T>(name: NativeAddon): T {
  let result = loaded.get(name);
  if (result === undefined) {
    try {
      const sea = seaModule();
      result = { addon: sea ? loadFromAsset(sea, name) : loadFromPackage(name) };
    } catch (err) {
      result = { error: err as Error };
    }
    loaded.set(name, result);
  }
  if ('error' in result) throw result.error;
  return result.addon as T;
}

/** Where the file lives in the npm package, relative to the bundle in dist/. */
function packagePath(name: NativeAddon): string {
  // node:module only here, off the single binary's start-up path.
  const req = (require('node:module') as typeof import('node:module')).createRequire(__filename);
  if (name === 'pty') return path.join(path.dirname(req.resolve('node-pty/package.json')), 'build/Release/pty.node');
  return path.join(path.dirname(__filename), '..', 'native/build/Release/posix.node');
}

function loadFromPackage(name: NativeAddon): unknown {
  const mod = { exports: {} };
  try {
    process.dlopen(mod, packagePath(name));
  } catch (err) {
    throw new Error(describeLoadFailure(name, [{ dir: undefined, stage: 'load', error: err as NodeJS.ErrnoException }], systemGlibc));
  }
  return mod.exports;
}

function loadFromAsset(sea: SeaModule, name: NativeAddon): unknown {
  const bytes = new Uint8Array(sea.getRawAsset(`${name}.node`));
  // The tmpdir as os.tmpdir() finds it, without loading the os module for it.
  const tmpdir = (process.env.TMPDIR || '/tmp').replace(/(.)\/+$/, '$1');
  const candidates = [nativeDirSetting, tmpdir, path.dirname(process.execPath)];
  const dirs = [...new Set(candidates.filter((d): d is string => typeof d === 'string' && d !== ''))];
  const attempts: LoadAttempt[] = [];
  for (const dir of dirs) {
    const unnamed = loadUnnamed(dir, bytes);
    if (unnamed !== undefined) return unnamed;
    let privateDir: string | undefined;
    let file: string | undefined;
    let stage: LoadAttempt['stage'] = 'write';
    try {
      privateDir = mkdtempSync(path.join(dir, '.waypoint-entrypoint-'));
      file = path.join(privateDir, `${name}.node`);
      writeFileSync(file, bytes, { mode: 0o700 });
      stage = 'load';
      const mod = { exports: {} };
      process.dlopen(mod, file);
      return mod.exports;
    } catch (err) {
      attempts.push({ dir, stage, error: err as NodeJS.ErrnoException });
      // The C library refused the addon itself: no other directory would change that.
      if (!isDirectoryProblem(attempts[attempts.length - 1]!)) break;
    } finally {
      // Once mapped the library no longer needs its file; never leave it behind.
      if (file) ignoreMissing(() => unlinkSync(file!));
      if (privateDir) ignoreMissing(() => rmdirSync(privateDir!));
    }
  }
  throw new Error(describeLoadFailure(name, attempts, systemGlibc));
}

/** Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY); Node's fs.constants does not name it. */
const O_TMPFILE = 0o20000000 | constants.O_DIRECTORY;

/**
 * The addon as a file without a name in `dir` (O_TMPFILE), dlopen'ed through /proc/self/fd:
 * no private directory to make, nothing to unlink, nothing left behind if we are killed.
 * Its descriptor stays open (close-on-exec, as all of Node's): glibc knows a loaded library by
 * its path, and another addon given the same /proc/self/fd/N would be taken for this one.
 * Undefined where that cannot be done (no O_TMPFILE on that filesystem, no /proc, a noexec
 * mount, ...): the caller then tries the named way, which explains any failure.
 */
function loadUnnamed(dir: string, bytes: Uint8Array): unknown {
  let fd: number | undefined;
  try {
    fd = openSync(dir, O_TMPFILE | constants.O_RDWR, 0o700);
    writeFileSync(fd, bytes);
    const mod = { exports: {} };
    process.dlopen(mod, `/proc/self/fd/${fd}`);
    return mod.exports;
  } catch {
    if (fd !== undefined) ignoreMissing(() => closeSync(fd!));
    return undefined;
  }
}

/** One place an addon was tried: written there (or not), then dlopen'ed (or not). */
export interface LoadAttempt {
  /** The directory it was written to; undefined for the npm package's own file. */
  dir: string | undefined;
  stage: 'write' | 'load';
  error: Pick<NodeJS.ErrnoException, 'message' | 'code'>;
}

/**
 * Whether the directory, not the addon, was the problem: it could not be written (EACCES,
 * EPERM, EROFS, …), or the file could not be mapped executable (a noexec mount: glibc's
 * "failed to map segment from shared object").
 */
export function isDirectoryProblem(attempt: LoadAttempt): boolean {
  if (attempt.dir === undefined) return false;
  if (attempt.stage === 'write') return true;
  return /failed to map segment from shared object/.test(attempt.error.message);
}

/** The loader's reason, on one line, without the private file's path (already deleted). */
function loaderReason(attempt: LoadAttempt): string {
  return attempt.error.message.split('\n')[0]!.trim();
}

/**
 * One line on why `name` could not be loaded. A symbol version the C library lacks names the
 * glibc needed and the one here; the directory advice comes only when every directory failed
 * as a directory; anything else is the loader's own words.
 */
export function describeLoadFailure(name: NativeAddon, attempts: LoadAttempt[], glibc: () => string | undefined): string {
  const what = `cannot load the ${name} addon`;
  const refusal = attempts.find((a) => !isDirectoryProblem(a));
  if (refusal === undefined) {
    const tried = attempts.map((a) => `${a.dir}: ${loaderReason(a)}`).join('; ');
    return `${what}: no writable, executable directory (set WAYPOINT_CEB_NATIVE_DIR to one); tried ${tried}`;
  }
  const reason = loaderReason(refusal);
  const version = /version `(GLIBC_(\d+(?:\.\d+)+))' not found/.exec(reason);
  if (version) {
    const here = glibc();
    return (
      `${what}: it needs glibc ${version[2]} or newer (${version[1]} not found); ` +
      `this system has ${here ? `glibc ${here}` : 'an older or no glibc'}: use a base image with glibc ≥ ${version[2]} (loader: ${reason})`
    );
  }
  const other = /version `([A-Z]+_[\d.]+)' not found/.exec(reason);
  if (other) return `${what}: this system's ${/libstdc\+\+/.test(reason) ? 'libstdc++' : 'C runtime'} lacks ${other[1]} (loader: ${reason})`;
  return `${what}: ${reason}`;
}

/** The running C library's version (glibc), read only when an addon failed to load. */
function systemGlibc(): string | undefined {
  try {
    const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
    return header?.glibcVersionRuntime;
  } catch {
    return undefined;
  }
}

function ignoreMissing(remove: () => void): void {
  try {
    remove();
  } catch {
    // already gone, or never created
  }
}
