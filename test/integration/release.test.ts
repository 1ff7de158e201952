// scripts/release/release.mjs: the release binary embeds the pinned official Node (not the build
// machine's), is stripped, comes with a SHA256SUMS that `sha256sum -c` accepts, and takes its
// addons from addons.mjs's buildAddons or an explicit --addons-dir, never silently from here.
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run.js';

type Addons = { posix: string; pty: string };
const release = (await import('../../scripts/release/release.mjs' as string)) as {
  emulatorFor(target: string, host?: string): string[];
  resolveAddons(options: { target: string; nodeDir: string; outDir: string; addonsDir?: string; addonsModule?: string }): Promise<Addons>;
};
const { PINNED } = (await import('../../scripts/release/node-runtime.mjs' as string)) as { PINNED: { version: string } };
const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const SCRIPT = path.join(ROOT, 'scripts/release/release.mjs');
const TODAY_ADDONS = [path.join(ROOT, 'native/build/Release/posix.node'), path.join(ROOT, 'node_modules/node-pty/build/Release/pty.node')];

const dirs: string[] = [];
function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), `waypoint-release-${prefix}-`));
  dirs.push(dir);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('the release addons', () => {
  it('without addons.mjs and without --addons-dir, stops with one line naming what is missing', async () => {
    const dir = tempDir('no-module');
    const missing = path.join(dir, 'addons.mjs');
    await expect(release.resolveAddons({ target: 'linux-x64', nodeDir: dir, outDir: path.join(dir, 'out'), addonsModule: missing })).rejects.toThrow(
      /^the release needs \S*addons\.mjs \(the addons built for linux-x64 with glibc <= 2\.28\), which this tree does not have; to release with addons you built yourself, pass --addons-dir DIR/,
    );
  });

  it("calls addons.mjs's buildAddons({ target, nodeDir, outDir }) and takes posix.node and pty.node from outDir", async () => {
    const dir = tempDir('module');
    const module = path.join(dir, 'addons.mjs');
    writeFileSync(
      module,
      `import { writeFileSync } from 'node:fs';
       export async function buildAddons({ target, nodeDir, outDir }) {
         for (const name of ['posix.node', 'pty.node']) writeFileSync(outDir + '/' + name, JSON.stringify({ target, nodeDir }));
       }`,
    );
    const outDir = path.join(dir, 'out');
    const addons = await release.resolveAddons({ target: 'linux-arm64', nodeDir: '/node-dir', outDir, addonsModule: module });
    expect(addons).toEqual({ posix: path.join(outDir, 'posix.node'), pty: path.join(outDir, 'pty.node') });
    expect(JSON.parse(readFileSync(addons.pty, 'utf8'))).toEqual({ target: 'linux-arm64', nodeDir: '/node-dir' });
  });

  it('an --addons-dir without both addons is refused', async () => {
    const dir = tempDir('half');
    copyFileSync(TODAY_ADDONS[0], path.join(dir, 'posix.node'));
    await expect(release.resolveAddons({ target: 'linux-x64', nodeDir: dir, outDir: dir, addonsDir: dir })).rejects.toThrow(
      `${path.join(dir, 'pty.node')} is missing: the addons directory must hold posix.node and pty.node`,
    );
  });
});

describe('npm run release --target linux-x64, with --addons-dir', () => {
  let outDir: string;
  let binary: string;

  beforeAll(() => {
    outDir = mkdtempSync(path.join(os.tmpdir(), 'waypoint-release-out-'));
    const addonsDir = mkdtempSync(path.join(os.tmpdir(), 'waypoint-release-addons-'));
    for (const file of TODAY_ADDONS) copyFileSync(file, path.join(addonsDir, path.basename(file)));
    const r = spawnSync(process.execPath, [SCRIPT, '--target', 'linux-x64', '--addons-dir', addonsDir, '--out-dir', outDir], { encoding: 'utf8', timeout: 240_000 });
    rmSync(addonsDir, { recursive: true, force: true });
    if (r.status !== 0) throw new Error(`release failed (${r.status ?? r.signal}): ${r.stdout}${r.stderr}`);
    binary = path.join(outDir, 'waypoint-entrypoint-linux-x64');
  }, 300_000);

  afterAll(() => {
    if (outDir) rmSync(outDir, { recursive: true, force: true });
  });

  it('writes the binary and a SHA256SUMS that sha256sum -c accepts', () => {
    expect(readdirSync(outDir).sort()).toEqual(['SHA256SUMS', 'waypoint-entrypoint-linux-x64']);
    const check = spawnSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: outDir, encoding: 'utf8' });
    expect(check.stdout).toBe('waypoint-entrypoint-linux-x64: OK\n');
    expect(check.status).toBe(0);
  });

  it('embeds the pinned Node, not the build machine’s, and says so', () => {
    const r = spawnSync(binary, ['--version'], { encoding: 'utf8', env: { PATH: process.env.PATH } });
    expect(r.stdout).toBe(`waypoint-entrypoint ${VERSION} (node v${PINNED.version}, linux-x64)\n`);
  });

  it('is stripped: no symbol table, no debug info', () => {
    const r = spawnSync('readelf', ['-S', '-W', binary], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('.text');
    expect(r.stdout).not.toMatch(/\.symtab|\.debug_info/);
  });

  it('runs alone in an empty directory: the exit code and the app’s NODE_OPTIONS come through', () => {
    const lonely = tempDir('alone');
    const copy = path.join(lonely, 'waypoint-entrypoint');
    copyFileSync(binary, copy);
    const env = { PATH: process.env.PATH, WAYPOINT_CEB_DISABLE: '1', NODE_OPTIONS: '--require /nonexistent.js' };
    const r = spawnSync(copy, ['sh', '-c', 'printf %s "$NODE_OPTIONS"; exit 3'], { cwd: lonely, env, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('--require /nonexistent.js');
    expect(r.status).toBe(3);
    expect(readdirSync(lonely)).toEqual(['waypoint-entrypoint']);
  });

  it('refuses a target it does not build, in one line', () => {
    const r = spawnSync(process.execPath, [SCRIPT, '--target', 'linux-riscv64', '--out-dir', tempDir('riscv64')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('release: error: release builds linux-x64, linux-arm64; not linux-riscv64\n');
  });
});

describe('how the release runs each target here', () => {
  it('natively on its own machine, linux-arm64 under qemu on linux-x64, and nothing else', () => {
    expect(release.emulatorFor('linux-x64', 'linux-x64')).toEqual([]);
    expect(release.emulatorFor('linux-arm64', 'linux-x64')).toEqual(['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu']);
    expect(() => release.emulatorFor('linux-x64', 'linux-arm64')).toThrow('the release is built on linux-x64 (it runs linux-x64 under qemu there); this is linux-arm64');
  });
});

describe('build-binary refuses a blob the embedded Node would not take', () => {
  type Build = (options: Record<string, unknown>) => string;
  let buildBinary: Build;
  let x64: string;
  let arm64: string;

  beforeAll(async () => {
    buildBinary = ((await import('../../scripts/build-binary.mjs' as string)) as { buildBinary: Build }).buildBinary;
    const { nodeRuntime } = (await import('../../scripts/release/node-runtime.mjs' as string)) as {
      nodeRuntime(o: { target: string }): Promise<string>;
    };
    x64 = path.join(await nodeRuntime({ target: 'linux-x64' }), 'bin/node');
    arm64 = path.join(await nodeRuntime({ target: 'linux-arm64' }), 'bin/node');
  }, 300_000);

  it('made by another Node version', () => {
    const output = path.join(tempDir('version'), 'out');
    const options = { node: arm64, nodeVersion: 'v0.0.1', target: 'linux-arm64', blobNode: x64, codeCache: false, output, log: () => {} };
    expect(() => buildBinary(options)).toThrow(new RegExp(`^the blob must be made by the embedded Node's version: \\S+ is v${PINNED.version.replace(/\./g, '\\.')}, the embedded \\S+ is v0\\.0\\.1$`));
    expect(readdirSync(path.dirname(output))).toEqual([]);
  });

  it('with code caches of another architecture (rejected, with a warning at every start)', () => {
    const output = path.join(tempDir('arch'), 'out');
    const options = { node: arm64, nodeVersion: `v${PINNED.version}`, target: 'linux-arm64', blobNode: x64, codeCache: true, output, log: () => {} };
    expect(() => buildBinary(options)).toThrow(/^code caches made by x64 Node are rejected on linux-arm64 \(and Node warns at every start\): build with codeCache: false/);
    expect(readdirSync(path.dirname(output))).toEqual([]);
  });
});
