// Loads our native addons (the reaper, node-pty's pty.node). From the npm package they are
// plain files; inside the single binary they are SEA assets, written to a private directory,
// dlopen'ed and deleted at once. Some mounts are noexec (/dev/shm in Docker, hardened /tmp),
// so the directory falls back through WAYPOINT_CEB_NATIVE_DIR, the tmpdir, the binary's dir.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';

export type NativeAddon = 'reaper' | 'pty';

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
    const sea = createRequire(__filename)('node:sea') as SeaModule;
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

const loaded = new Map<NativeAddon, unknown>();

export function loadNative<T>(name: NativeAddon): T {
  let addon = loaded.get(name);
  if (addon === undefined) {
    const sea = seaModule();
    addon = sea ? loadFromAsset(sea, name) : loadFromPackage(name);
    loaded.set(name, addon);
  }
  return addon as T;
}

/** Where the file lives in the npm package, relative to the bundle in dist/. */
function packagePath(name: NativeAddon): string {
  const req = createRequire(__filename);
  if (name === 'pty') return path.join(path.dirname(req.resolve('node-pty/package.json')), 'build/Release/pty.node');
  return path.join(path.dirname(__filename), '..', 'native/build/Release/reaper.node');
}

function loadFromPackage(name: NativeAddon): unknown {
  const mod = { exports: {} };
  process.dlopen(mod, packagePath(name));
  return mod.exports;
}

function loadFromAsset(sea: SeaModule, name: NativeAddon): unknown {
  const bytes = Buffer.from(sea.getRawAsset(`${name}.node`));
  const dirs = [nativeDirSetting, os.tmpdir(), path.dirname(process.execPath)].filter(
    (d): d is string => typeof d === 'string' && d !== '',
  );
  const failures: string[] = [];
  for (const dir of dirs) {
    let privateDir: string | undefined;
    try {
      privateDir = mkdtempSync(path.join(dir, '.waypoint-entrypoint-'));
      const file = path.join(privateDir, `${name}.node`);
      writeFileSync(file, bytes, { mode: 0o700 });
      const mod = { exports: {} };
      process.dlopen(mod, file);
      return mod.exports;
    } catch (err) {
      failures.push(`${dir}: ${(err as Error).message.split('\n')[0]}`);
    } finally {
      // Once mapped the library no longer needs its file; never leave it behind.
      if (privateDir) rmSync(privateDir, { recursive: true, force: true });
    }
  }
  throw new Error(
    `cannot load the ${name} addon: no writable, executable directory (set WAYPOINT_CEB_NATIVE_DIR to one); tried ${failures.join('; ')}`,
  );
}
