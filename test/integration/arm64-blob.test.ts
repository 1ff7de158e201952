// Who can make the linux-arm64 binary's SEA blob (docs/release.md, "arm64: who makes the blob"):
// the x64 Node of the pinned version, without code caches, or the arm64 Node itself under qemu,
// with them. Each binary is run under qemu-aarch64-static with Debian's arm64 C library (the
// packages scripts/system-deps.sh installs). The addons inside are this machine's x64 ones: these
// binaries check the blob, not the addons (scripts/release/addons.mjs builds arm64's).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/run.js';

type Build = (options: Record<string, unknown>) => string;
const { buildBinary } = (await import('../../scripts/build-binary.mjs' as string)) as { buildBinary: Build };
const { nodeRuntime, PINNED } = (await import('../../scripts/release/node-runtime.mjs' as string)) as {
  nodeRuntime(o: { target: string }): Promise<string>;
  PINNED: { version: string };
};
const VERSION: string = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version;
const QEMU_ENV = { PATH: process.env.PATH, QEMU_LD_PREFIX: '/usr/aarch64-linux-gnu', WAYPOINT_CEB_DISABLE: '1' };

function underQemu(binary: string, args: string[], env: Record<string, string | undefined> = {}) {
  return spawnSync('qemu-aarch64-static', [binary, ...args], { encoding: 'utf8', env: { ...QEMU_ENV, ...env }, timeout: 60_000 });
}

describe('the linux-arm64 blob', () => {
  let dir: string;
  let fromX64: string;
  let fromArm64: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'waypoint-arm64-blob-'));
    const x64 = path.join(await nodeRuntime({ target: 'linux-x64' }), 'bin/node');
    const arm64 = path.join(await nodeRuntime({ target: 'linux-arm64' }), 'bin/node');
    const common = { node: arm64, nodeVersion: `v${PINNED.version}`, target: 'linux-arm64', log: () => {} };
    fromX64 = buildBinary({ ...common, blobNode: x64, codeCache: false, output: path.join(dir, 'from-x64') });
    // The arm64 Node, run by qemu through a wrapper, makes the blob and its code caches.
    const wrapper = path.join(dir, 'arm64-node');
    writeFileSync(wrapper, `#!/bin/sh\nQEMU_LD_PREFIX=/usr/aarch64-linux-gnu exec qemu-aarch64-static '${arm64}' "$@"\n`, { mode: 0o755 });
    fromArm64 = buildBinary({ ...common, blobNode: wrapper, codeCache: true, output: path.join(dir, 'from-arm64') });
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each([
    ['made by the x64 Node without code caches', () => fromX64],
    ['made by the arm64 Node under qemu with its code caches', () => fromArm64],
  ])('%s: the arm64 Node takes it', (_name, binary) => {
    const version = underQemu(binary(), ['--version']);
    expect(version.stderr).toBe('');
    expect(version.stdout).toBe(`waypoint-entrypoint ${VERSION} (node v${PINNED.version}, linux-arm64)\n`);

    const app = underQemu(binary(), ['sh', '-c', 'printf %s "$NODE_OPTIONS"; exit 5'], { NODE_OPTIONS: '--require /nonexistent.js' });
    expect(app.status).toBe(5);
    expect(app.stdout).toBe('--require /nonexistent.js');
    // V8 says so at every start when it rejects the blob's code cache.
    expect(app.stderr).not.toContain('Code cache data rejected');
  }, 120_000);
});
