// `npm run release`: the release binaries, each embedding the pinned official Node
// (node-runtime.mjs, node-version.json) instead of the build machine's, stripped, with the
// addons built for its target, and dist/release/SHA256SUMS (`sha256sum -c` format).
//
//   npm run release [-- --addons-dir DIR] [--out-dir DIR]
//
// Both targets are built on a linux-x64 machine. Each blob and its code caches are made by the
// embedded Node itself: linux-arm64's under qemu-aarch64-static on Debian's arm64 cross C library
// (docs/release.md, "arm64: who makes the blob"), which also runs its checks (--version, an exit
// code, a hostile NODE_OPTIONS) like x64's run natively. The addons come from scripts/release/addons.mjs
// (buildAddons: per target, glibc <= 2.28), or, explicitly, from --addons-dir DIR (posix.node and
// pty.node, e.g. this machine's own builds); never silently from whatever was built here.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BuildError, buildBinary, hostTarget } from '../build-binary.mjs';
import { nodeRuntime, PINNED, RuntimeError } from './node-runtime.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../..');
export const ADDONS_MODULE = path.join(here, 'addons.mjs');
/** The targets release.mjs builds, on a linux-x64 machine. */
const TARGETS = ['linux-x64', 'linux-arm64'];
/** Runs linux-arm64 executables here: qemu-user on Debian's arm64 C library (libc6-arm64-cross). */
export const ARM64_EMULATOR = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];

export class ReleaseError extends Error {}

function log(message) {
  process.stdout.write(`release: ${message}\n`);
}

/**
 * posix.node and pty.node for `target`: from `addonsDir` when given, else built by
 * addonsModule's buildAddons({ target, nodeDir, outDir }) into outDir.
 */
export async function resolveAddons({ target, nodeDir, outDir, addonsDir, addonsModule = ADDONS_MODULE, log = () => {} }) {
  let dir = addonsDir;
  if (dir) log(`addons for ${target}: from ${dir} (--addons-dir)`);
  else {
    if (!existsSync(addonsModule)) {
      throw new ReleaseError(
        `the release needs ${path.relative(root, addonsModule)} (the addons built for ${target} with glibc <= 2.28), which this tree does not have; ` +
          'to release with addons you built yourself, pass --addons-dir DIR (holding posix.node and pty.node)',
      );
    }
    const { buildAddons } = await import(pathToFileURL(addonsModule).href);
    mkdirSync(outDir, { recursive: true });
    const started = Date.now();
    const built = await buildAddons({ target, nodeDir, outDir });
    log(`addons for ${target}: built by ${path.relative(root, addonsModule)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    dir = outDir;
    if (built?.posix && built?.pty) return { posix: built.posix, pty: built.pty };
  }
  const addons = { posix: path.join(dir, 'posix.node'), pty: path.join(dir, 'pty.node') };
  for (const file of Object.values(addons)) {
    if (!existsSync(file)) throw new ReleaseError(`${file} is missing: the addons directory must hold posix.node and pty.node`);
  }
  return addons;
}

/** `sha256sum -c` lines for `files`, named relative to their directory. */
export function sha256sums(files) {
  return files.map((file) => `${createHash('sha256').update(readFileSync(file)).digest('hex')}  ${path.basename(file)}\n`).join('');
}

/** How this machine runs `target`'s executables: natively ([]), or the emulator's argv prefix. */
export function emulatorFor(target, host = hostTarget()) {
  if (target === host) return [];
  if (host !== 'linux-x64' || target !== 'linux-arm64') {
    throw new ReleaseError(`the release is built on linux-x64 (it runs ${target} under qemu there); this is ${host}`);
  }
  const [qemu, , prefix] = ARM64_EMULATOR;
  if (spawnSync(qemu, ['--version']).error) throw new ReleaseError(`${qemu} not found: install qemu-user-static (scripts/system-deps.sh) to build ${target}`);
  if (!existsSync(path.join(prefix, 'lib/ld-linux-aarch64.so.1'))) {
    throw new ReleaseError(`${prefix} has no arm64 C library: install libc6-arm64-cross (scripts/system-deps.sh) to build ${target}`);
  }
  return ARM64_EMULATOR;
}

async function releaseTarget(target, { outDir, addonsDir, workDir }) {
  const emulator = emulatorFor(target);
  const nodeDir = await nodeRuntime({ target, log });
  const addons = await resolveAddons({ target, nodeDir, outDir: path.join(workDir, `addons-${target}`), addonsDir, log });
  return buildBinary({
    node: path.join(nodeDir, 'bin/node'),
    nodeVersion: `v${PINNED.version}`,
    target,
    output: path.join(outDir, `waypoint-entrypoint-${target}`),
    addons,
    emulator,
    log,
  });
}

export async function release({ outDir = path.join(root, 'dist/release'), addonsDir, targets = TARGETS } = {}) {
  for (const target of targets) {
    if (!TARGETS.includes(target)) throw new ReleaseError(`release builds ${TARGETS.join(', ')}; not ${target}`);
  }
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const workDir = path.join(os.tmpdir(), `waypoint-release-${process.pid}`);
  try {
    const binaries = [];
    for (const target of targets) binaries.push(await releaseTarget(target, { outDir, addonsDir, workDir }));
    writeFileSync(path.join(outDir, 'SHA256SUMS'), sha256sums(binaries));
    log(`${path.relative(process.cwd(), outDir) || outDir}/SHA256SUMS: ${binaries.map((b) => path.basename(b)).join(', ')}`);
    return binaries;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

async function cli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { 'addons-dir': { type: 'string' }, 'out-dir': { type: 'string' }, target: { type: 'string', multiple: true } },
  });
  await release({
    addonsDir: values['addons-dir'] && path.resolve(values['addons-dir']),
    outDir: values['out-dir'] && path.resolve(values['out-dir']),
    targets: values.target,
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((err) => {
    const known = [ReleaseError, RuntimeError, BuildError].some((kind) => err instanceof kind) || err?.code?.startsWith?.('ERR_PARSE_ARGS');
    process.stderr.write(`release: error: ${known ? err.message : (err?.stack ?? err)}\n`);
    process.exit(1);
  });
}
