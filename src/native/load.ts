// Loads our native addons (native/posix.c, node-pty's pty.node). From the npm package they are
// plain files; inside the single binary they are SEA assets, written to a private directory,
// dlopen'ed and deleted at once. Some mounts are noexec (/dev/shm in Docker, hardened /tmp),
// so the directory falls back through WAYPOINT_CEB_NATIVE_DIR, the tmpdir, the binary's dir.
import { mkdtempSync, rmdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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
  const req = createRequire(__filename);
  if (name === 'pty') return path.join(path.dirname(req.resolve('node-pty/package.json')), 'build/Release/pty.node');
  return path.join(path.dirname(__filename), '..', 'native/build/Release/posix.node');
}

function loadFromPackage(name: NativeAddon): unknown {
  const mod = { exports: {} };
  process.dlopen(mod, packagePath(name));
  return mod.exports;
}

function loadFromAsset(sea: SeaModule, name: NativeAddon): unknown {
  const bytes = new Uint8Array(sea.getRawAsset(`${name}.node`));
  // The tmpdir as os.tmpdir() finds it, without loading the os module for it.
  const tmpdir = (process.env.TMPDIR || '/tmp').replace(/(.)\/+$/, '$1');
  const candidates = [nativeDirSetting, tmpdir, path.dirname(process.execPath)];
  const dirs = [...new Set(candidates.filter((d): d is string => typeof d === 'string' && d !== ''))];
  const failures: string[] = [];
  for (const dir of dirs) {
    let privateDir: string | undefined;
    let file: string | undefined;
    try {
      privateDir = mkdtempSync(path.join(dir, '.waypoint-entrypoint-'));
      file = path.join(privateDir, `${name}.node`);
      writeFileSync(file, bytes, { mode: 0o700 });
      const mod = { exports: {} };
      process.dlopen(mod, file);
      return mod.exports;
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      // Once mapped the library no longer needs its file; never leave it behind.
      if (file) ignoreMissing(() => unlinkSync(file!));
      if (privateDir) ignoreMissing(() => rmdirSync(privateDir!));
    }
  }
  throw new Error(
    `cannot load the ${name} addon: no writable, executable directory (set WAYPOINT_CEB_NATIVE_DIR to one); tried ${failures.join('; ')}`,
  );
}

function ignoreMissing(remove: () => void): void {
  try {
    remove();
  } catch {
    // already gone, or never created
  }
}
