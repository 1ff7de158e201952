// Where a binary's file-backed RSS comes from: starts it in disabled mode in front of `sleep`,
// and, once the app runs, reads which of its pages are resident (/proc/PID/pagemap) in each
// mapping of the binary's file, per ELF section (readelf -S) and per large symbol (nm -S of an
// unstripped file with the same layout, e.g. the runtime the binary was made from: ICU's data,
// V8's snapshot).
//
//   node scripts/bench/rss-where.mjs BINARY [--symbols UNSTRIPPED_NODE] [--drop-cache]
//
// --drop-cache: drop the binary's page cache first (lib.mjs dropPageCache), as runtime.mjs does.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { cleanEnv, dropPageCache, markdownTable, stopEntrypoint } from './lib.mjs';

const PAGE = 4096;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** File-offset ranges with names: the ELF sections that occupy the file (readelf -S -W). */
function sections(file) {
  const out = spawnSync('readelf', ['-S', '-W', file], { encoding: 'utf8' }).stdout;
  const rows = [];
  for (const m of out.matchAll(/^\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)/gm)) {
    const [, name, type, , offset, size] = m;
    if (type !== 'NOBITS' && Number.parseInt(size, 16) > 0) rows.push({ name, start: Number.parseInt(offset, 16), end: Number.parseInt(offset, 16) + Number.parseInt(size, 16) });
  }
  return rows;
}

/** NOTE segments of at least 64 KiB: postject puts the SEA blob in one (readelf -l -W). */
function blobSegments(file) {
  const out = spawnSync('readelf', ['-l', '-W', file], { encoding: 'utf8' }).stdout;
  const rows = [];
  for (const m of out.matchAll(/^\s*NOTE\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x[0-9a-f]+\s+0x([0-9a-f]+)/gm)) {
    const start = Number.parseInt(m[1], 16);
    const size = Number.parseInt(m[2], 16);
    if (size >= 64 * 1024) rows.push({ name: 'SEA blob (NOTE segment)', start, end: start + size });
  }
  return rows;
}

/** Symbols of at least 256 KiB as file-offset ranges (vaddr - the first LOAD's vaddr). */
function bigSymbols(file, base) {
  const out = spawnSync('nm', ['-S', '-C', '--size-sort', file], { encoding: 'utf8', maxBuffer: 256 << 20 }).stdout;
  const rows = [];
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]+) ([0-9a-f]+) \S (.+)$/.exec(line);
    if (m && Number.parseInt(m[2], 16) >= 256 * 1024) {
      const start = Number.parseInt(m[1], 16) - base;
      rows.push({ name: m[3].slice(0, 60), start, end: start + Number.parseInt(m[2], 16) });
    }
  }
  return rows;
}

/** The resident pages of `file` in process `pid`, as file offsets. */
function residentOffsets(pid, file) {
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n');
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  const offsets = [];
  try {
    for (const line of maps) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) \S+ \d+\s+(.*)$/.exec(line);
      if (!m || m[4] !== file) continue;
      const start = Number.parseInt(m[1], 16);
      const pages = (Number.parseInt(m[2], 16) - start) / PAGE;
      const entries = Buffer.alloc(pages * 8);
      readSync(fd, entries, 0, entries.length, (start / PAGE) * 8);
      for (let i = 0; i < pages; i++) {
        if (entries.readBigUInt64LE(i * 8) >> 63n) offsets.push(Number.parseInt(m[3], 16) + i * PAGE);
      }
    }
  } finally {
    closeSync(fd);
  }
  return offsets;
}

function tally(offsets, regions) {
  const kib = new Map();
  for (const off of offsets) {
    const region = regions.find((r) => off >= r.start && off < r.end)?.name ?? '(between sections)';
    kib.set(region, (kib.get(region) ?? 0) + PAGE / 1024);
  }
  return [...kib].sort((a, b) => b[1] - a[1]);
}

async function main() {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { symbols: { type: 'string' }, 'drop-cache': { type: 'boolean' } } });
  const binary = positionals[0] && realpathSync(positionals[0]);
  if (!binary || !existsSync(binary)) throw new Error('usage: rss-where.mjs BINARY [--symbols UNSTRIPPED_NODE] [--drop-cache]');
  if (values['drop-cache']) dropPageCache(binary);
  const child = spawn(binary, ['sleep', '60'], { env: cleanEnv({ WAYPOINT_CEB_DISABLE: '1' }), stdio: 'ignore' });
  try {
    const children = `/proc/${child.pid}/task/${child.pid}/children`;
    const deadline = Date.now() + 10_000;
    while (!(existsSync(children) && readFileSync(children, 'utf8').trim())) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${binary} did not start its app within 10 s`);
      await sleep(20);
    }
    await sleep(500);
    const offsets = residentOffsets(child.pid, binary);
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8').match(/^(RssAnon|RssFile):.*$/gm).join(', ').replace(/\s+/g, ' ');
    const symbols = values.symbols ? bigSymbols(values.symbols, 0x400000) : [];
    const rows = tally(offsets, [...symbols, ...blobSegments(binary), ...sections(binary)]).map(([name, k]) => [name, String(k)]);
    process.stdout.write(`## resident pages of ${binary} (${status})\n\n${markdownTable(['section or symbol', 'KiB resident'], rows)}\n`);
  } finally {
    await stopEntrypoint(child);
  }
}

main().catch((err) => {
  process.stderr.write(`rss-where: error: ${err.message}\n`);
  process.exitCode = 1;
});
