// The official Node that goes inside a release binary: the npm registry's node-linux-<arch>
// package at the one version pinned in node-version.json, checked against the integrity recorded
// there before anything is extracted, and cached so that a second build downloads nothing.
//
//   node scripts/release/node-runtime.mjs [--target linux-x64|linux-arm64] [--cache-dir DIR]
//
// prints the extracted package directory (bin/node, include/node/). The packages declare os/cpu,
// so the other architecture's cannot be installed as a dependency: `npm pack` fetches the tarball
// as it is, through npm's own configuration (registry, cafile, proxy, auth).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The pinned runtime: { version, targets: { 'linux-x64': { package, tarball, integrity }, ... } }. */
export const PINNED = JSON.parse(readFileSync(path.join(here, 'node-version.json'), 'utf8'));

/** Marker written into an extracted directory once its tarball has been verified. */
const VERIFIED = '.waypoint-verified';

export class RuntimeError extends Error {}

export function defaultCacheDir() {
  return process.env.WAYPOINT_BUILD_CACHE || path.join(os.homedir(), '.cache', 'waypoint-entrypoint');
}

/** The host's target name, e.g. linux-x64. */
export function hostTarget() {
  return `${process.platform}-${process.arch}`;
}

/** The sha512 of a file as an SRI string (sha512-<base64>), the form npm records. */
export async function sriOf(file) {
  const hash = createHash('sha512');
  for await (const chunk of createReadStream(file)) hash.update(chunk);
  return `sha512-${hash.digest('base64')}`;
}

/** Refuses a file whose sha512 is not the recorded one, naming both hashes and the file. */
export async function verifyIntegrity(file, expected) {
  if (!expected.startsWith('sha512-')) throw new RuntimeError(`recorded integrity for ${file} is not sha512: ${expected}`);
  const actual = await sriOf(file);
  if (actual !== expected) {
    throw new RuntimeError(
      `integrity mismatch for ${file}: expected ${expected}, got ${actual} (delete the file to download it again, or fix the pin in scripts/release/node-version.json)`,
    );
  }
}

/** The default download: `npm pack name@version` into destDir; returns the tarball's path. */
export function npmPack(spec, destDir) {
  const r = spawnSync('npm', ['pack', spec, '--json', '--pack-destination', destDir], {
    cwd: destDir,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  if (r.error) throw new RuntimeError(`npm pack ${spec}: ${r.error.message} (is npm on PATH?)`);
  if (r.status !== 0) throw new RuntimeError(`npm pack ${spec} failed (exit ${r.status}): ${npmFailure(r)}`);
  const [packed] = JSON.parse(r.stdout);
  return path.join(destDir, packed.filename);
}

/** npm's own one-line summary of a failure (its --json error), else its last error line. */
function npmFailure({ stdout, stderr }) {
  try {
    const { error } = JSON.parse(stdout);
    if (error?.summary) return `${error.code ? `${error.code}: ` : ''}${error.summary}`;
  } catch {
    /* not JSON: fall back to stderr */
  }
  const lines = stderr.split('\n').filter((line) => line.trim() && !/complete log of this run/.test(line));
  return lines.at(-1)?.trim() ?? 'no output';
}

function extract(tarball, dir) {
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('tar', ['-xzf', tarball, '-C', dir, '--strip-components=1', '--no-same-owner'], { encoding: 'utf8' });
  if (r.error) throw new RuntimeError(`tar: ${r.error.message} (install tar)`);
  if (r.status !== 0) throw new RuntimeError(`tar -xzf ${tarball} failed: ${r.stderr.trim()}`);
  for (const needed of ['bin/node', 'include/node/node.h']) {
    if (!existsSync(path.join(dir, needed))) throw new RuntimeError(`${tarball} has no ${needed}: not an official Node package`);
  }
}

function pinFor(pin, target) {
  const entry = pin.targets[target];
  if (!entry) {
    throw new RuntimeError(`no pinned Node for target ${JSON.stringify(target)}: known targets are ${Object.keys(pin.targets).join(', ')}`);
  }
  return entry;
}

/**
 * The extracted package directory of the pinned Node for `target`. A verified extraction in the
 * cache is returned as it is; otherwise the cached tarball (or a fresh download, kept only once
 * verified) is checked against the recorded integrity, then extracted next to it and renamed into
 * place, so that the directory, once there, is complete.
 */
export async function nodeRuntime({ target = hostTarget(), cacheDir = defaultCacheDir(), pin = PINNED, download = npmPack, log = () => {} } = {}) {
  const entry = pinFor(pin, target);
  const name = `${entry.package}-${pin.version}`;
  const home = path.join(cacheDir, 'node', name);
  const dir = path.join(home, 'package');
  const verified = () => existsSync(path.join(dir, VERIFIED)) && readFileSync(path.join(dir, VERIFIED), 'utf8').trim() === entry.integrity;
  if (verified()) return dir;

  mkdirSync(home, { recursive: true });
  const tarball = path.join(home, `${name}.tgz`);
  if (!existsSync(tarball)) {
    const incoming = mkdtempSync(path.join(home, 'download-'));
    try {
      log(`downloading ${entry.package}@${pin.version} (npm pack)`);
      const fetched = await download(`${entry.package}@${pin.version}`, incoming);
      await verifyIntegrity(fetched, entry.integrity);
      renameSync(fetched, tarball);
    } finally {
      rmSync(incoming, { recursive: true, force: true });
    }
  } else {
    await verifyIntegrity(tarball, entry.integrity);
  }
  const partial = mkdtempSync(path.join(home, 'extract-'));
  try {
    extract(tarball, partial);
    writeFileSync(path.join(partial, VERIFIED), `${entry.integrity}\n`);
    moveIntoPlace(partial, dir, verified);
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  log(`${entry.package}@${pin.version} verified and extracted to ${dir}`);
  return dir;
}

/**
 * Renames the finished extraction into place. Another build (a parallel test process) may have
 * put a verified one there meanwhile, which may be in use: keep it, and drop ours.
 */
function moveIntoPlace(partial, dir, verified) {
  try {
    renameSync(partial, dir);
    return;
  } catch (err) {
    if (err.code !== 'ENOTEMPTY' && err.code !== 'EEXIST') throw err;
  }
  if (verified()) return;
  rmSync(dir, { recursive: true, force: true }); // not ours, not verified: replace it
  renameSync(partial, dir);
}

async function cli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: { target: { type: 'string', default: hostTarget() }, 'cache-dir': { type: 'string', default: defaultCacheDir() } },
  });
  const dir = await nodeRuntime({
    target: values.target,
    cacheDir: values['cache-dir'],
    log: (message) => process.stderr.write(`node-runtime: ${message}\n`),
  });
  process.stdout.write(`${dir}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  cli(process.argv.slice(2)).catch((err) => {
    const known = err instanceof RuntimeError || err?.code?.startsWith?.('ERR_PARSE_ARGS');
    process.stderr.write(`node-runtime: error: ${known ? err.message : (err?.stack ?? err)}\n`);
    process.exit(1);
  });
}
