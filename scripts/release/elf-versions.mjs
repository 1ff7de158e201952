// The versioned symbols an ELF object (an addon, a binary) needs from the C and C++ runtime, and
// whether they stay within the floors the release binaries promise: GLIBC_2.28 (what Node's own
// official builds need) and, for libstdc++/libgcc (GLIBCXX_, CXXABI_, GCC_), no more than the
// embedded Node binary itself needs, read from that binary so the check follows the runtime.
//
// Read with binutils' `readelf`, which handles every target's ELF (objdump on Debian only the
// host's): `-V` lists the version needs per library, `--dyn-syms` names the symbol behind each.
//
//   node scripts/release/elf-versions.mjs FILE...                 highest version per family
//   node scripts/release/elf-versions.mjs --node NODE FILE...     and exit 1 above the floors
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FAMILIES = ['GLIBC', 'GLIBCXX', 'CXXABI', 'GCC'];
export const GLIBC_FLOOR = '2.28';

/** "GLIBC_2.2.5" → { family: 'GLIBC', version: '2.2.5' }; anything else (GLIBC_PRIVATE, …) → null. */
export function splitVersion(name) {
  const m = /^([A-Z]+)_(\d+(?:\.\d+)*)$/.exec(name);
  return m ? { family: m[1], version: m[2] } : null;
}

/** Numeric, part by part: 2.28 < 2.2.5 is false, 3.4.9 < 3.4.21. */
export function compareVersions(a, b) {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** `readelf -V --wide`: the entries of the version needs section only ({ file, name }). */
export function parseVersionNeeds(text) {
  const needs = [];
  let inNeeds = false;
  let file;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line) || /^Version \w+ section/.test(line.trim())) {
      inNeeds = /^Version needs section/.test(line.trim());
      continue;
    }
    if (!inNeeds) continue;
    const f = /\bFile:\s*(\S+)/.exec(line);
    if (f) {
      file = f[1];
      continue;
    }
    const n = /\bName:\s*(\S+)/.exec(line);
    if (n && file !== undefined) needs.push({ file, name: n[1] });
  }
  return needs;
}

/** `readelf --dyn-syms --wide`: each symbol with its version ({ name, version, defined }). */
export function parseDynSyms(text) {
  const symbols = [];
  const row = /^\s*\d+:\s+[0-9a-fA-F]+\s+\S+\s+\S+\s+\S+\s+\S+(?:\s+\[[^\]]*\])?\s+(UND|ABS|COM|\d+)\s+(\S+)/;
  for (const line of text.split('\n')) {
    const m = row.exec(line);
    if (!m) continue;
    const at = m[2].indexOf('@');
    if (at <= 0) continue; // unversioned
    symbols.push({ name: m[2].slice(0, at), version: m[2].slice(at).replace(/^@@?/, ''), defined: m[1] !== 'UND' });
  }
  return symbols;
}

function readelf(args, file) {
  const r = spawnSync('readelf', [...args, file], { encoding: 'utf8', maxBuffer: 256 << 20 });
  if (r.error) throw new Error(`readelf: ${r.error.message} (install binutils)`);
  if (r.status !== 0) throw new Error(`readelf ${args.join(' ')} ${file}: ${r.stderr.trim() || `exit ${r.status}`}`);
  return r.stdout;
}

/** The ELF header's machine: 'x86-64', 'AArch64', … (readelf's own words). */
export function elfMachine(file) {
  const m = /^\s*Machine:\s*(.+?)\s*$/m.exec(readelf(['-h', '--wide'], file));
  if (!m) throw new Error(`${file}: readelf -h shows no machine`);
  return m[1].replace(/^Advanced Micro Devices X86-64$/, 'x86-64');
}

/**
 * What `file` needs: every needed version with its library and the symbols that ask for it, and
 * the highest version per family (FAMILIES).
 */
export function versionRequirements(file) {
  const needs = parseVersionNeeds(readelf(['-V', '--wide'], file));
  const wanted = parseDynSyms(readelf(['--dyn-syms', '--wide'], file)).filter((s) => !s.defined);
  const entries = needs.map(({ file: library, name }) => ({
    library,
    name,
    symbols: wanted.filter((s) => s.version === name).map((s) => s.name),
  }));
  const highest = {};
  for (const { name } of entries) {
    const v = splitVersion(name);
    if (v && FAMILIES.includes(v.family) && (!highest[v.family] || compareVersions(v.version, highest[v.family]) > 0)) {
      highest[v.family] = v.version;
    }
  }
  return { entries, highest };
}

/** The floors for objects that run inside `nodeBinary`: GLIBC_2.28, the rest as high as Node's own. */
export function floorsFor(nodeBinary) {
  const { highest } = versionRequirements(nodeBinary);
  return { GLIBC: GLIBC_FLOOR, GLIBCXX: highest.GLIBCXX, CXXABI: highest.CXXABI, GCC: highest.GCC };
}

/**
 * Each needed version above its floor, or of a family the floors do not allow at all (a floor
 * left undefined: the runtime does not use that library), or private (GLIBC_PRIVATE).
 */
export function violations(requirements, floors) {
  const out = [];
  for (const entry of requirements.entries) {
    const v = splitVersion(entry.name);
    if (v === null) {
      if (/^(GLIBC|GLIBCXX|CXXABI|GCC)_/.test(entry.name)) out.push({ ...entry, floor: 'none (not a stable interface)' });
      continue;
    }
    if (!FAMILIES.includes(v.family)) continue;
    const floor = floors[v.family];
    if (floor === undefined) out.push({ ...entry, floor: `none (the runtime needs no ${v.family}_ at all)` });
    else if (compareVersions(v.version, floor) > 0) out.push({ ...entry, floor: `${v.family}_${floor}` });
  }
  return out;
}

/** One line per violation, naming the symbols: what a failing build or test shows. */
export function describeViolation(file, v) {
  const symbols = v.symbols.length > 0 ? v.symbols.join(', ') : 'no named symbol';
  return `${path.basename(file)} needs ${v.name} from ${v.library} (${symbols}), above the floor ${v.floor}`;
}

function main(argv) {
  let node;
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--node') node = argv[++i];
    else files.push(argv[i]);
  }
  if (files.length === 0 || (argv.includes('--node') && !node)) {
    process.stderr.write('usage: elf-versions.mjs [--node NODE_BINARY] FILE...\n');
    return 2;
  }
  const floors = node ? floorsFor(node) : undefined;
  if (floors) process.stdout.write(`floors (from ${node}): ${FAMILIES.map((f) => `${f}_${floors[f] ?? '-'}`).join(' ')}\n`);
  let failed = false;
  for (const file of files) {
    const req = versionRequirements(file);
    process.stdout.write(`${file} (${elfMachine(file)}): ${FAMILIES.map((f) => `${f}_${req.highest[f] ?? '-'}`).join(' ')}\n`);
    for (const v of floors ? violations(req, floors) : []) {
      failed = true;
      process.stdout.write(`  ${describeViolation(file, v)}\n`);
    }
  }
  return failed ? 1 : 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`elf-versions: error: ${err.message}\n`);
    process.exitCode = 1;
  }
}
