// `npm run release`: the release binaries, each embedding the pinned official Node
// (node-runtime.mjs, node-version.json) instead of the build machine's, stripped, with the
// addons built for its target, and dist/release/SHA256SUMS (`sha256sum -c` format).
//
//   npm run release [-- --addons-dir DIR] [--out-dir DIR]
//
// Today: linux-x64 (built on a linux-x64 machine: the blob and its code caches are made by
// running the embedded Node itself). The addons come from scripts/release/addons.mjs
// (buildAddons: per target, glibc <= 2.28), or, explicitly, from --addons-dir DIR (posix.node and
// pty.node, e.g. this machine's own builds); never silently from whatever was built here.
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
/** The targets release.mjs builds today; linux-arm64 joins once addons.mjs cross-builds its addons. */
const TARGETS = ['linux-x64'];

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

async function releaseTarget(target, { outDir, addonsDir, workDir }) {
  if (target !== hostTarget()) {
    throw new ReleaseError(`${target} is built on a ${target} machine for now (its blob is made by running the embedded Node); this is ${hostTarget()}`);
  }
  const nodeDir = await nodeRuntime({ target, log });
  const addons = await resolveAddons({ target, nodeDir, outDir: path.join(workDir, `addons-${target}`), addonsDir, log });
  return buildBinary({
    node: path.join(nodeDir, 'bin/node'),
    nodeVersion: `v${PINNED.version}`,
    target,
    output: path.join(outDir, `waypoint-entrypoint-${target}`),
    addons,
    log,
  });
}

export async function release({ outDir = path.join(root, 'dist/release'), addonsDir, targets = TARGETS } = {}) {
  for (const target of targets) {
    if (!TARGETS.includes(target)) {
      throw new ReleaseError(`release builds ${TARGETS.join(', ')} today; ${target} comes with scripts/release/addons.mjs (see docs/release.md)`);
    }
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
