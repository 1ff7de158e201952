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
//
// A FILE that is a single executable is checked with the addons inside it (seaAddons).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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

const ELF64_LE = Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1]);
const ET_DYN = 3;

/** The length-prefixed (u64 little-endian) string that ends at `end`, if one does (≤ 255 bytes). */
function prefixedKeyBefore(bin, end) {
  for (let length = 1; length <= 255 && end - length - 8 >= 0; length++) {
    if (bin.readBigUInt64LE(end - length - 8) === BigInt(length)) return bin.subarray(end - length, end).toString('latin1');
  }
  return null;
}

/**
 * The shared objects a Node single executable carries as SEA assets (our addons): Node's blob
 * stores each asset as a u64-length-prefixed name, then its u64 length and its bytes. An ELF64
 * shared object whose size (to the end of its section headers) equals the length before it, under
 * a name ending in .node, is one; `\x7fELF` bytes anywhere else in the executable are not.
 * Returns [{ name, offset, bytes }].
 */
export function seaAddons(binary) {
  const bin = readFileSync(binary);
  const found = [];
  for (let at = bin.indexOf(ELF64_LE, 1); at !== -1; at = bin.indexOf(ELF64_LE, at + 1)) {
    if (at < 16 || at + 64 > bin.length || bin.readUInt16LE(at + 16) !== ET_DYN) continue;
    const size = Number(bin.readBigUInt64LE(at + 0x28)) + bin.readUInt16LE(at + 0x3c) * bin.readUInt16LE(at + 0x3a);
    if (at + size > bin.length || bin.readBigUInt64LE(at - 8) !== BigInt(size)) continue;
    const name = prefixedKeyBefore(bin, at - 8);
    if (name?.endsWith('.node')) found.push({ name, offset: at, bytes: bin.subarray(at, at + size) });
  }
  return found;
}

/**
 * Every ELF object `binary` ships: itself, and each addon inside it, written to `dir` (named
 * after the binary and the asset) so that readelf can read it. Returns [{ name, file }].
 */
export function shippedObjects(binary, dir) {
  const objects = [{ name: path.basename(binary), file: binary }];
  for (const { name, bytes } of seaAddons(binary)) {
    const file = path.join(dir, `${path.basename(binary)}!${name}`);
    writeFileSync(file, bytes);
    objects.push({ name: `${path.basename(binary)}!${name}`, file });
  }
  return objects;
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
  const dir = mkdtempSync(path.join(os.tmpdir(), 'elf-versions-'));
  try {
    for (const { name, file } of files.flatMap((f) => shippedObjects(f, dir).map((o, i) => (i === 0 ? { name: f, file: f } : o)))) {
      const req = versionRequirements(file);
      process.stdout.write(`${name} (${elfMachine(file)}): ${FAMILIES.map((f) => `${f}_${req.highest[f] ?? '-'}`).join(' ')}\n`);
      for (const v of floors ? violations(req, floors) : []) {
        failed = true;
        process.stdout.write(`  ${describeViolation(name, v)}\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
