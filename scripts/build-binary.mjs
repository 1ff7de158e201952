// Builds dist/waypoint-entrypoint: one executable file holding Node itself, our bundle
// (dist/entrypoint.cjs, from `npm run build`) and the two native addons as SEA assets.
//
//   bundle --(node --experimental-sea-config)--> blob
//   copy of node --strip--> --NODE_OPTIONS guard--> --postject blob--> dist/waypoint-entrypoint
//
// `npm run build:binary` embeds the Node running this script (the quick local build);
// `--node PATH` embeds another one (the release embeds the pinned official Node, see
// scripts/release/release.mjs). The blob and its code caches are always made by the Node that is
// embedded: V8 refuses a code cache from any other version, and the blob format may change.
//
// The NODE_OPTIONS guard: Node reads NODE_OPTIONS in C++ before any JavaScript runs, and a single
// executable application honours it like `node` does, so an app image with
// `NODE_OPTIONS=--require ./tracing.js` would run the app's code inside the supervisor (and a
// missing file would crash it). We rename the variable Node looks up, in the copied binary, to a
// same-length name of our own: the binary then never reads NODE_OPTIONS, and the variable stays
// in the environment, unchanged, for the child.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chunks } from './chunks.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const BUNDLE = path.join(root, 'dist/entrypoint.cjs');
/** The SEA's main: runs the bundle (an asset) with its code cache made after a start. */
const SEA_MAIN = path.join(root, 'scripts/sea-main.cjs');
/** The lazily loaded chunks (scripts/build.mjs's `chunks`), each a SEA asset with its code cache. */
const CHUNKS = Object.keys(chunks);
const OUTPUT = path.join(root, 'dist/waypoint-entrypoint');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
/** The environment variable Node's C++ reads for its options, and our replacement name. */
const NODE_OPTIONS_NAME = 'NODE_OPTIONS';
export const NODE_OPTIONS_RENAMED = 'WPCEB_NODEOP';

export class BuildError extends Error {}

function defaultLog(message) {
  process.stdout.write(`build-binary: ${message}\n`);
}

/**
 * The files that go in, each checked to exist with a hint on how to produce it. `addons`
 * ({ posix, pty }) replaces the ones built here for this machine (the release's, built per target).
 */
function inputs(addons) {
  const req = createRequire(path.join(root, 'package.json'));
  let ptyAddon;
  try {
    ptyAddon = path.join(path.dirname(req.resolve('node-pty/package.json')), 'build/Release/pty.node');
  } catch {
    throw new BuildError('node-pty is not installed: run `npm ci`');
  }
  const files = {
    bundle: [BUNDLE, 'run `npm run build` first (npm ci does it)'],
    ...Object.fromEntries(CHUNKS.map((name) => [name, [path.join(root, `dist/${name}.cjs`), 'run `npm run build` first (npm ci does it)']])),
    posix: [path.join(root, 'native/build/Release/posix.node'), 'run `npm run build:native` (npm ci does it)'],
    pty: [ptyAddon, "node-pty's addon was not built: run `npm ci` (or `npm rebuild node-pty`)"],
  };
  if (addons) {
    files.posix = [addons.posix, 'the addon given for posix.node does not exist'];
    files.pty = [addons.pty, 'the addon given for pty.node does not exist'];
  }
  for (const [what, [file, hint]] of Object.entries(files)) {
    if (!existsSync(file)) throw new BuildError(`${path.relative(root, file)} is missing (${what}): ${hint}`);
  }
  return {
    bundle: files.bundle[0],
    chunks: Object.fromEntries(CHUNKS.map((name) => [name, files[name][0]])),
    posix: files.posix[0],
    pty: files.pty[0],
  };
}

function run(cmd, args, { what = `${cmd} ${args.join(' ')}`, ...options } = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...options });
  if (r.error) throw new BuildError(`${what}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new BuildError(`${what} failed (${r.signal ?? `exit ${r.status}`}):\n${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd());
  }
  return r;
}

function requireTool(name, hint) {
  const r = spawnSync(name, ['--version'], { encoding: 'utf8' });
  if (r.error) throw new BuildError(`\`${name}\` not found on PATH: ${hint}`);
}

/** How src/chunks.ts wraps a chunk before compiling it (its chunkSource; a unit test compares). */
export function chunkSource(code) {
  return `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
}

/**
 * V8's code cache for a chunk, made by this very Node (the one the binary is built from) after
 * running the chunk's top level, so that what start-up runs is in it too. V8 takes it only for
 * the same text (chunkSource) and refuses it otherwise, safely: src/chunks.ts then compiles as
 * without one.
 */
function chunkCodeCache(name, chunk, workDir, blobNode) {
  const [cmd, ...prefix] = blobNode;
  const file = `${name}.cjs`;
  const out = path.join(workDir, `${file}.cache`);
  const wrapped = path.join(workDir, `${name}.wrapped.js`);
  writeFileSync(wrapped, chunkSource(readFileSync(chunk, 'utf8')));
  const program = `
    const { Script } = require('node:vm');
    const { readFileSync, writeFileSync } = require('node:fs');
    const script = new Script(readFileSync(${JSON.stringify(wrapped)}, 'utf8'), { filename: ${JSON.stringify(file)} });
    const module = { exports: {} };
    script.runInThisContext()(module.exports, require, module, ${JSON.stringify(file)}, ${JSON.stringify(workDir)});
    writeFileSync(${JSON.stringify(out)}, script.createCachedData());
  `;
  run(cmd, [...prefix, '-e', program], { cwd: workDir, what: `the code cache of ${file}` });
  return out;
}

/**
 * The bundle as scripts/sea-main.cjs reads it: wrapped (chunkSource), and ASCII, which it reads
 * as latin1 (esbuild writes ASCII unless told another charset).
 */
function wrappedBundle(bundle, workDir) {
  const code = readFileSync(bundle, 'utf8');
  if (!/^[\x00-\x7f]*$/.test(code)) {
    throw new BuildError(`${path.relative(root, bundle)} is not ASCII: the binary reads it as latin1 (keep esbuild's default charset in scripts/build.mjs)`);
  }
  const wrapped = path.join(workDir, 'entrypoint.wrapped.js');
  writeFileSync(wrapped, chunkSource(code));
  return wrapped;
}

/**
 * V8's code cache for the bundle, made by `blobNode` after a whole start of disabled mode running
 * `true` (taken as the process exits), so that it holds every function a start compiles: Node's
 * useCodeCache only compiles the top level, and the rest was compiled at every start (~2 ms).
 * Outside a SEA the bundle loads posix.node from beside dist/ (src/native/load.ts): the addon
 * being built in goes there.
 */
function mainCodeCache(wrapped, posix, workDir, blobNode) {
  const [cmd, ...prefix] = blobNode;
  const tree = path.join(workDir, 'main-cache');
  const addonDir = path.join(tree, 'native/build/Release');
  mkdirSync(addonDir, { recursive: true });
  mkdirSync(path.join(tree, 'dist'));
  copyFileSync(posix, path.join(addonDir, 'posix.node'));
  const out = path.join(workDir, 'entrypoint.cjs.cache');
  const filename = path.join(tree, 'dist/entrypoint.cjs');
  const program = `
    const { Script } = require('node:vm');
    const { readFileSync, writeFileSync } = require('node:fs');
    const script = new Script(readFileSync(${JSON.stringify(wrapped)}, 'utf8'), { filename: 'entrypoint.cjs' });
    process.argv = [process.execPath, 'waypoint-entrypoint', 'true'];
    process.on('exit', () => writeFileSync(${JSON.stringify(out)}, script.createCachedData()));
    const module = { exports: {} };
    script.runInThisContext()(module.exports, require, module, ${JSON.stringify(filename)}, ${JSON.stringify(path.dirname(filename))});
  `;
  // Disabled mode, and nothing else of the builder's environment (a WAYPOINT_* of its own).
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', WAYPOINT_CEB_DISABLE: '1' };
  run(cmd, [...prefix, '-e', program], { cwd: workDir, env, what: 'the code cache of entrypoint.cjs (a start running `true`)' });
  if (!existsSync(out)) throw new BuildError('the code cache of entrypoint.cjs: the start ran, but wrote no cache');
  return out;
}

/**
 * node --experimental-sea-config: the bundle and the addons, as the blob postject injects. Made by
 * `blobNode`, of the embedded Node's version. `codeCache: false` leaves out V8's code caches
 * (machine code of blobNode's architecture: useless to, and refused by, another one).
 */
function buildBlob(files, workDir, { blobNode, codeCache }) {
  const blob = path.join(workDir, 'sea-prep.blob');
  const wrapped = wrappedBundle(files.bundle, workDir);
  const config = {
    // A small main that runs the bundle, an asset, with the code cache made after a start
    // (mainCodeCache): ~2 ms less start-up than Node's own code cache for the bundle as main.
    main: SEA_MAIN,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: codeCache,
    // A startup snapshot (useSnapshot) measured slower: an empty main's snapshot alone starts
    // ~10 ms (CPU) slower than an empty main without one (docs/release.md).
    useSnapshot: false,
    // The lazily loaded chunks (src/chunks.ts, scripts/chunks.mjs): connection.cjs read only in
    // connected mode, commander.cjs only for options and help, dynamic.cjs and the sources only
    // for a config with dynamic vars.
    assets: {
      'entrypoint.cjs': wrapped,
      ...(codeCache ? { 'entrypoint.cjs.cache': mainCodeCache(wrapped, files.posix, workDir, blobNode) } : {}),
      'posix.node': files.posix,
      'pty.node': files.pty,
      ...Object.fromEntries(
        Object.entries(files.chunks).flatMap(([name, file]) => [
          [`${name}.cjs`, file],
          ...(codeCache ? [[`${name}.cjs.cache`, chunkCodeCache(name, file, workDir, blobNode)]] : []),
        ]),
      ),
    },
  };
  const configFile = path.join(workDir, 'sea-config.json');
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const [cmd, ...prefix] = blobNode;
  run(cmd, [...prefix, '--experimental-sea-config', configFile], { cwd: workDir, what: `${blobNode.join(' ')} --experimental-sea-config` });
  return blob;
}

/**
 * Finds the C string literal "NODE_OPTIONS" that Node's C++ passes to getenv. It sits in a
 * string table: a NUL before it (the end of the previous literal) and its own NUL after it. The
 * same bytes also occur inside V8's serialized heap (the startup snapshot, code caches), where
 * every string is preceded by its 32-bit length, 12 here: those are JavaScript strings
 * (`process.env.NODE_OPTIONS` in Node's own library code), not what Node parses at start-up,
 * and patching them would corrupt the snapshot. Exactly one literal must remain; anything else
 * means this Node is laid out differently from what we verified, and the build must stop.
 *
 * Where the linker merged the literal into the tail of a longer one (Node 26: "… is not allowed
 * in NODE_OPTIONS"), there is no NUL before it: getenv then points into that string, and its
 * tail (`tails`) is the literal when no standalone one exists. verify() checks the result.
 */
export function findNodeOptionsLiteral(bin) {
  const needle = Buffer.from(`\0${NODE_OPTIONS_NAME}\0`, 'latin1');
  const v8Length = Buffer.alloc(4);
  v8Length.writeUInt32LE(NODE_OPTIONS_NAME.length);
  const literals = [];
  const heapStrings = [];
  for (let at = bin.indexOf(needle); at !== -1; at = bin.indexOf(needle, at + 1)) {
    const name = at + 1;
    (bin.subarray(name - 4, name).equals(v8Length) ? heapStrings : literals).push(name);
  }
  const tails = [];
  const tail = needle.subarray(1);
  for (let at = bin.indexOf(tail); at !== -1; at = bin.indexOf(tail, at + 1)) {
    if (bin[at - 1] >= 0x20 && bin[at - 1] < 0x7f) tails.push(at);
  }
  return { literals, heapStrings, tails };
}

/** The NODE_OPTIONS guard: Node's getenv("NODE_OPTIONS") becomes getenv("WPCEB_NODEOP"). */
function patchNodeOptions(binary, source, log) {
  if (NODE_OPTIONS_RENAMED.length !== NODE_OPTIONS_NAME.length) throw new BuildError('the replacement name must keep the length');
  const bin = readFileSync(binary);
  const found = findNodeOptionsLiteral(bin);
  const { heapStrings } = found;
  const merged = found.literals.length === 0 && found.tails.length === 1;
  const literals = merged ? found.tails : found.literals;
  if (literals.length !== 1) {
    throw new BuildError(
      `NODE_OPTIONS guard: expected exactly one C string literal "${NODE_OPTIONS_NAME}" in ${source}, ` +
        `found ${literals.length} (at ${literals.map((o) => `0x${o.toString(16)}`).join(', ') || 'none'}). ` +
        'This Node build is laid out differently: refusing to build a binary that would honour NODE_OPTIONS.',
    );
  }
  if (bin.includes(Buffer.from(`\0${NODE_OPTIONS_RENAMED}\0`, 'latin1'))) {
    throw new BuildError(`NODE_OPTIONS guard: ${NODE_OPTIONS_RENAMED} already occurs in the binary`);
  }
  bin.write(NODE_OPTIONS_RENAMED, literals[0], 'latin1');
  writeFileSync(binary, bin);
  log(
    `NODE_OPTIONS guard: getenv literal at 0x${literals[0].toString(16)}${merged ? ' (the tail of a longer literal)' : ''} ` +
      `renamed to ${NODE_OPTIONS_RENAMED} (${heapStrings.length} V8 heap string(s) left alone)`,
  );
}

/** postject, through its CLI: its LIEF warnings about `.note.100` sections are noise. */
function inject(binary, blob, log) {
  const cli = path.join(path.dirname(createRequire(import.meta.url).resolve('postject/package.json')), 'dist/cli.js');
  const r = run(
    process.execPath,
    [cli, binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE],
    { what: 'postject' },
  );
  // Its progress lines, and LIEF's "warning: Can't find string offset for section name
  // '.note…'" (the stripped binary's many notes): harmless. Anything else is shown.
  const noise = /^\s*$|^Start injection|Injection done|^warning: Can't find string offset for section name '\.note/u;
  const rest = `${r.stdout}\n${r.stderr}`
    .replace(/\x1b\[[0-9;]*m/g, '')
    .split('\n')
    .filter((line) => !noise.test(line));
  if (rest.length > 0) log(`postject: ${rest.join('\n')}`);
}

/**
 * The finished binary must work, alone, with a hostile NODE_OPTIONS in the environment; run
 * through `emulator` (an argv prefix, e.g. qemu-aarch64-static -L DIR) when it is another target's.
 */
function verify(binary, expectedVersion, emulator = []) {
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_OPTIONS: '--require /nonexistent-waypoint-check.js' };
  const runIt = (file, args, options) => (emulator.length ? run(emulator[0], [...emulator.slice(1), file, ...args], options) : run(file, args, options));
  const version = runIt(binary, ['--version'], { env, what: `NODE_OPTIONS=--require /nonexistent ${[...emulator, 'waypoint-entrypoint'].join(' ')} --version` });
  const expected = `waypoint-entrypoint ${pkg.version} (node ${expectedVersion.node}, ${expectedVersion.target})`;
  if (version.stdout.trim() !== expected) {
    throw new BuildError(`the binary says its version is ${JSON.stringify(version.stdout.trim())}, expected ${JSON.stringify(expected)}`);
  }
  // Alone in an empty directory (no node_modules, no native/ beside it), the child's exit code
  // and the app's NODE_OPTIONS, untouched, must come through.
  const lonely = mkdtempSync(path.join(os.tmpdir(), 'waypoint-binary-check-'));
  try {
    const copy = path.join(lonely, 'waypoint-entrypoint');
    copyFileSync(binary, copy);
    const [cmd, ...args] = [...emulator, copy, 'sh', '-c', 'printf %s "$NODE_OPTIONS"; exit 42'];
    const r = spawnSync(cmd, args, { cwd: lonely, env, encoding: 'utf8' });
    if (r.status !== 42 || r.stdout !== env.NODE_OPTIONS) {
      throw new BuildError(
        `the binary, alone in an empty directory, ran \`sh -c 'printf %s "$NODE_OPTIONS"; exit 42'\` with ` +
          `${r.error?.message ?? `exit ${r.status}${r.signal ? ` (${r.signal})` : ''}`}, stdout ${JSON.stringify(r.stdout)}, stderr ${JSON.stringify(r.stderr)}`,
      );
    }
  } finally {
    rmSync(lonely, { recursive: true, force: true });
  }
}

export function hostTarget() {
  return `${process.platform}-${process.arch}`;
}

/** The strip that reads `target`'s ELF files: the host's own, or Debian's cross binutils'. */
export function stripFor(target) {
  if (target === hostTarget()) return 'strip';
  const triple = { 'linux-x64': 'x86_64-linux-gnu', 'linux-arm64': 'aarch64-linux-gnu' }[target];
  if (!triple) throw new BuildError(`no strip known for target ${target}`);
  return `${triple}-strip`;
}

/** The version (v24.22.3) and architecture (x64) of a Node that runs here (an argv: maybe under qemu). */
function describeNode([cmd, ...prefix]) {
  const what = `${[cmd, ...prefix].join(' ')} -p process.version`;
  const [version, arch] = run(cmd, [...prefix, '-p', 'process.version + " " + process.arch'], { what }).stdout.trim().split(' ');
  return { version, arch };
}

/**
 * Builds `output` embedding `node` (version `nodeVersion`, for `target`). The blob is made by
 * `blobNode` (default: `node` itself), which must be of the same version. `emulator` (an argv
 * prefix, e.g. ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu']) runs another target's
 * executables here: `node` when it makes the blob, and the result. The result is run to check it
 * when it can run here (this machine's target, or through `emulator`).
 */
export function buildBinary({
  node = process.execPath,
  nodeVersion,
  target = hostTarget(),
  blobNode = node,
  output = OUTPUT,
  addons,
  codeCache = true,
  strip = stripFor(target),
  emulator = [],
  log = defaultLog,
} = {}) {
  const started = Date.now();
  const files = inputs(addons);
  requireTool(strip, `install ${strip === 'strip' ? 'binutils' : `the cross binutils for ${target}`} (scripts/system-deps.sh)`);
  const foreign = target !== hostTarget();
  // The embedded Node is the target's: another target's runs through the emulator.
  const argvOf = (file) => (file === node && foreign ? [...emulator, file] : [file]);
  const blobArgv = argvOf(blobNode);
  const blobMaker = describeNode(blobArgv);
  const embedded = nodeVersion ?? (blobNode === node ? blobMaker.version : describeNode(argvOf(node)).version);
  if (embedded !== blobMaker.version) {
    throw new BuildError(`the blob must be made by the embedded Node's version: ${blobNode} is ${blobMaker.version}, the embedded ${node} is ${embedded}`);
  }
  // V8's code caches are per architecture: another's is rejected, with a warning at every start.
  if (codeCache && `linux-${blobMaker.arch}` !== target) {
    throw new BuildError(
      `code caches made by ${blobMaker.arch} Node are rejected on ${target} (and Node warns at every start): ` +
        `build with codeCache: false, or make the blob with ${target}'s own Node (e.g. under qemu)`,
    );
  }
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'waypoint-sea-'));
  const partial = `${output}.partial`;
  try {
    const blob = buildBlob(files, workDir, { blobNode: blobArgv, codeCache });
    copyFileSync(node, partial);
    chmodSync(partial, 0o755);
    run(strip, [partial], { what: strip });
    patchNodeOptions(partial, node, log);
    inject(partial, blob, log);
    chmodSync(partial, 0o755);
    if (!foreign) verify(partial, { node: embedded, target });
    else if (emulator.length) verify(partial, { node: embedded, target }, emulator);
    renameSync(partial, output);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const mb = (statSync(output).size / 1024 / 1024).toFixed(1);
  log(`${path.relative(process.cwd(), output) || output}: ${mb} MiB (Node ${embedded}, ${target}), built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return output;
}

/** `npm run build:binary`: this machine's Node, or `--node PATH` (run here to learn its version). */
function main(argv) {
  const { values } = parseArgs({ args: argv, options: { node: { type: 'string' }, output: { type: 'string' } } });
  buildBinary({ node: values.node ? path.resolve(values.node) : process.execPath, output: values.output ? path.resolve(values.output) : OUTPUT });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    const known = err instanceof BuildError || err?.code?.startsWith?.('ERR_PARSE_ARGS');
    process.stderr.write(`build-binary: error: ${known ? err.message : (err?.stack ?? err)}\n`);
    process.exit(1);
  }
}
