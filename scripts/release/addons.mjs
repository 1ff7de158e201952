// Builds the two native addons for a release target, against the embedded Node's own headers,
// runnable on glibc 2.28 (what Node's official builds need) although built here on 2.36:
//
//   node scripts/release/addons.mjs --target linux-x64|linux-arm64 --node-dir DIR --out DIR
//
// DIR is laid out like the npm registry's node-linux-<arch> package (bin/node, include/node/).
// Out come posix.node (ours: native/posix.c, spawn.c, relay.c, lines.c) and pty.node (node-pty's src/unix/pty.cc).
//
// How the glibc 2.28 floor is reached. No old sysroot is available here (Debian's mirror has
// bookworm only, buster is gone), so the objects are built against bookworm's glibc 2.36 and:
// - Symbol versions are pinned. A first link shows which references got a version above
//   GLIBC_2.28 (forkpty, openpty 2.34; pthread_sigmask 2.32; pthread_create, dlsym 2.34): for
//   each, the newest version at or below 2.28 that the target's own libraries still define
//   (GLIBC_2.2.5 on x64, GLIBC_2.17 on arm64) goes into a generated header of `.symver`
//   directives, forced into every compile with `-include`, and the objects are built again.
//   A symbol without such an old version stops the build, naming it.
// - Pinned symbols that lived in libutil/libpthread/libdl before glibc 2.34 moved them into
//   libc: an old glibc finds a versioned reference in whichever loaded library defines it, but
//   only a loaded one, so those libraries are linked as DT_NEEDED (2.34+ keeps them as stubs).
// - posix_spawn_file_actions_addchdir_np (2.29) is looked up with dlsym in native/spawn.c, which
//   starts the child by fork where it is missing (2.28).
// - libstdc++ stays shared (Node itself needs it), but std::thread's members that need
//   GLIBCXX_3.4.22 (Node's own floor is 3.4.21) are compiled in from native/compat/std_thread.cc.
//   Linking libstdc++/libgcc statically was tried and does not work: bookworm's libstdc++.a and
//   libgcc_eh.a need __libc_single_threaded (2.32), _dl_find_object (2.35), arc4random (2.36),
//   which have no older version to pin to.
// - A version script exports only the N-API entry points: nothing of ours (the std::thread
//   members above) can stand in for a library's symbol elsewhere in the process.
// Finally every output is checked with elf-versions.mjs against GLIBC_2.28 and the GLIBCXX_,
// CXXABI_, GCC_ versions the Node binary in DIR needs itself.
//
// Direct compiler calls rather than node-gyp: the pinning needs two compiles around a link and
// a header forced into each, cross-compiling needs only the compiler's name, and the flags that
// matter (those node-gyp and the two binding.gyp files give) are three short lists below.
// Keep them in step with native/binding.gyp and node-pty's binding.gyp when either changes.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareVersions, describeViolation, elfMachine, floorsFor, GLIBC_FLOOR, parseDynSyms, splitVersion, versionRequirements, violations } from './elf-versions.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export const TARGETS = {
  'linux-x64': { triple: 'x86_64-linux-gnu', machine: 'x86-64' },
  'linux-arm64': { triple: 'aarch64-linux-gnu', machine: 'AArch64' },
};

/** Where symbols lived before glibc 2.34 moved them into libc (a pinned one needs its library). */
const OLD_HOMES = [
  [/^(forkpty|openpty|login|login_tty|logout|logwtmp)$/, 'libutil.so.1'],
  [/^(dlopen|dlclose|dlsym|dlvsym|dlerror|dladdr|dladdr1|dlinfo|dlmopen)$/, 'libdl.so.2'],
  [/^(pthread_|sem_|__pthread_)/, 'libpthread.so.0'],
  [/^(timer_|mq_|aio_|lio_|shm_open|shm_unlink)/, 'librt.so.1'],
];
/** The target's libraries whose older symbol versions pins may name. */
const C_LIBRARIES = ['libc.so.6', 'libpthread.so.0', 'libdl.so.2', 'libutil.so.1', 'librt.so.1', 'libm.so.6'];

export class AddonBuildError extends Error {}

function run(cmd, args, what = `${cmd} ${args.join(' ')}`) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.error) throw new AddonBuildError(`${what}: ${r.error.message}${r.error.code === 'ENOENT' ? ' (run scripts/system-deps.sh)' : ''}`);
  if (r.status !== 0) throw new AddonBuildError(`${what} failed (exit ${r.status}):\n${r.stdout}${r.stderr}`.trimEnd());
  return r.stdout;
}

/** The two addons: their sources and flags, as their binding.gyp files and node-gyp give them. */
function addonSpecs(nodeDir) {
  const req = createRequire(path.join(root, 'package.json'));
  const ptyDir = path.dirname(req.resolve('node-pty/package.json'));
  const napiDir = path.dirname(req.resolve('node-addon-api/package.json'));
  const common = ['-fPIC', '-pthread', '-D_LARGEFILE_SOURCE', '-D_FILE_OFFSET_BITS=64', '-DBUILDING_NODE_EXTENSION', `-I${path.join(nodeDir, 'include/node')}`];
  return [
    {
      name: 'posix',
      sources: ['native/posix.c', 'native/spawn.c', 'native/relay.c', 'native/lines.c'].map((f) => path.join(root, f)),
      flags: [...common, '-O2', '-Wall', '-Wextra', '-DNODE_GYP_MODULE_NAME=posix'],
      cxx: false,
    },
    {
      name: 'pty',
      sources: [path.join(ptyDir, 'src/unix/pty.cc'), path.join(root, 'native/compat/std_thread.cc')],
      flags: [...common, '-O2', '-D_FORTIFY_SOURCE=2', '-fno-rtti', '-std=gnu++17', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_GYP_MODULE_NAME=pty', `-I${napiDir}`],
      cxx: true,
    },
  ];
}

function compileAndLink(spec, tools, workDir, output, { pinHeader, needed }) {
  const compiler = spec.cxx ? tools.cxx : tools.cc;
  const objects = spec.sources.map((source, i) => {
    const object = path.join(workDir, `${spec.name}-${i}.o`);
    const include = pinHeader ? ['-include', pinHeader] : [];
    run(compiler, [...spec.flags, ...include, '-c', source, '-o', object], `${path.basename(compiler)} ${path.relative(root, source)}`);
    return object;
  });
  const exports = path.join(workDir, 'exports.map');
  writeFileSync(exports, '{ global: napi_register_module_v*; node_api_module_get_api_version_v*; local: *; };\n');
  const libs = needed.length > 0 ? ['-Wl,--no-as-needed', ...needed.map((l) => `-l:${l}`), '-Wl,--as-needed'] : [];
  run(compiler, ['-shared', '-pthread', `-Wl,--version-script=${exports}`, '-o', output, ...objects, ...libs, ...(spec.cxx ? [] : ['-ldl'])], `link ${spec.name}.node`);
}

/** Every versioned definition in the target's C libraries, by symbol name. */
function libraryVersions(tools) {
  const byName = new Map();
  for (const lib of C_LIBRARIES) {
    const file = run(tools.cc, [`-print-file-name=${lib}`]).trim();
    if (!path.isAbsolute(file) || !existsSync(file)) continue; // not in this C library
    const text = run('readelf', ['--dyn-syms', '--wide', file]);
    for (const s of parseDynSyms(text)) {
      if (!s.defined) continue;
      if (!byName.has(s.name)) byName.set(s.name, new Set());
      byName.get(s.name).add(s.version);
    }
  }
  return byName;
}

/**
 * From a first link: `.symver` lines for every GLIBC reference above the floor, pinned to the
 * newest version at or below it, and the libraries those pinned symbols need loaded.
 */
export function planPins(requirements, available) {
  const pins = [];
  const needed = new Set();
  for (const entry of requirements.entries) {
    const v = splitVersion(entry.name);
    if (!v || v.family !== 'GLIBC' || compareVersions(v.version, GLIBC_FLOOR) <= 0) continue;
    for (const symbol of entry.symbols) {
      const old = [...(available.get(symbol) ?? [])]
        .map(splitVersion)
        .filter((o) => o && o.family === 'GLIBC' && compareVersions(o.version, GLIBC_FLOOR) <= 0)
        .sort((a, b) => compareVersions(b.version, a.version))[0];
      if (!old) {
        throw new AddonBuildError(`${symbol} exists only as ${entry.name} (no version at or below GLIBC_${GLIBC_FLOOR}): call it through dlsym with a fallback`);
      }
      pins.push(`__asm__(".symver ${symbol},${symbol}@GLIBC_${old.version}");`);
      const home = OLD_HOMES.find(([pattern]) => pattern.test(symbol));
      if (home) needed.add(home[1]);
    }
  }
  return { pins: pins.sort(), needed: [...needed].sort() };
}

function buildOne(spec, tools, floors, workDir, outDir) {
  const trial = path.join(workDir, `${spec.name}.trial.node`);
  compileAndLink(spec, tools, workDir, trial, { needed: [] });
  const { pins, needed } = planPins(versionRequirements(trial), tools.available);
  const pinHeader = path.join(workDir, `${spec.name}-pins.h`);
  writeFileSync(pinHeader, `/* Generated by scripts/release/addons.mjs: references pinned to GLIBC_${GLIBC_FLOOR} or older. */\n${pins.join('\n')}\n`);
  const built = path.join(workDir, `${spec.name}.node`);
  compileAndLink(spec, tools, workDir, built, { pinHeader, needed });
  run(tools.strip, ['--strip-all', built]);
  const machine = elfMachine(built);
  if (machine !== tools.machine) throw new AddonBuildError(`${spec.name}.node is for ${machine}, not ${tools.machine}`);
  const bad = violations(versionRequirements(built), floors);
  if (bad.length > 0) throw new AddonBuildError(bad.map((v) => describeViolation(built, v)).join('\n'));
  const output = path.join(outDir, `${spec.name}.node`);
  renameSync(built, output);
  return { file: output, pins, needed };
}

/** Builds posix.node and pty.node for `target` into `outDir`; returns what was pinned. */
export function buildAddons({ target, nodeDir, outDir }) {
  const t = TARGETS[target];
  if (!t) throw new AddonBuildError(`unknown target ${JSON.stringify(target)}: one of ${Object.keys(TARGETS).join(', ')}`);
  const node = path.join(nodeDir, 'bin/node');
  if (!existsSync(path.join(nodeDir, 'include/node/node_api.h')) || !existsSync(node)) {
    throw new AddonBuildError(`${nodeDir} is not a Node package directory (bin/node, include/node/node_api.h)`);
  }
  const started = Date.now();
  const tools = { cc: `${t.triple}-gcc`, cxx: `${t.triple}-g++`, strip: `${t.triple}-strip`, machine: t.machine };
  tools.available = libraryVersions(tools);
  const floors = floorsFor(node);
  mkdirSync(outDir, { recursive: true });
  const workDir = mkdtempSync(path.join(os.tmpdir(), `waypoint-addons-${target}-`));
  try {
    const addons = Object.fromEntries(addonSpecs(nodeDir).map((spec) => [spec.name, buildOne(spec, tools, floors, workDir, outDir)]));
    return { target, floors, addons, seconds: (Date.now() - started) / 1000 };
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

function parseArgs(argv) {
  const args = {};
  for (let i = 0; i < argv.length; i += 2) {
    const key = { '--target': 'target', '--node-dir': 'nodeDir', '--out': 'outDir' }[argv[i]];
    if (!key || argv[i + 1] === undefined) throw new AddonBuildError('usage: addons.mjs --target linux-x64|linux-arm64 --node-dir DIR --out DIR');
    args[key] = argv[i + 1];
  }
  if (!args.target || !args.nodeDir || !args.outDir) throw new AddonBuildError('usage: addons.mjs --target linux-x64|linux-arm64 --node-dir DIR --out DIR');
  return args;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const result = buildAddons(parseArgs(process.argv.slice(2)));
    for (const [name, a] of Object.entries(result.addons)) {
      const highest = versionRequirements(a.file).highest;
      process.stdout.write(
        `addons: ${a.file} (${result.target}): ${Object.entries(highest).map(([f, v]) => `${f}_${v}`).join(' ')}; ` +
          `${a.pins.length} pinned${a.needed.length ? `, needs ${a.needed.join(' ')}` : ''} [${name}]\n`,
      );
    }
    process.stdout.write(`addons: built in ${result.seconds.toFixed(1)} s\n`);
  } catch (err) {
    process.stderr.write(`addons: error: ${err instanceof AddonBuildError ? err.message : (err?.stack ?? err)}\n`);
    process.exitCode = 1;
  }
}
