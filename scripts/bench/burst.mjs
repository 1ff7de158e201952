// `npm run bench` (burst part): an app that writes as fast as it can, and whether we hold it
// back. `yes <100-byte line> | head -n 1000000` into `cat >/dev/null`, the whole pipeline timed,
// medians of BENCH_BURST_RUNS (default 5) interleaved rounds: the app alone, under `tini -s`,
// and under the entrypoint in disabled mode and connected to the reference server (shipping
// every line, which includes the final flush of up to 2 s). Issue 17's budgets: disabled
// <= 1.05x tini, connected <= 1.3x tini. The entrypoint is the x64 release binary when built
// (npm run release), else dist/waypoint-entrypoint; BENCH_BINARY=… for another.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, envInt, fmtMs, markdownTable, median, quantile, referenceServer, ROOT, timeOnce, which } from './lib.mjs';

const LINES = envInt('BENCH_BURST_LINES', 1_000_000);
const RUNS = envInt('BENCH_BURST_RUNS', 5);
const BUDGETS = { disabled: 1.05, connected: 1.3 };

function entrypointBinary() {
  if (process.env.BENCH_BINARY) return process.env.BENCH_BINARY;
  const release = path.join(ROOT, 'dist/release/waypoint-entrypoint-linux-x64');
  return existsSync(release) ? release : path.join(ROOT, 'dist/waypoint-entrypoint');
}

/** The whole pipeline, as a shell runs it: `<wrapper…> sh -c 'yes … | head' | cat >/dev/null`. */
function pipeline(wrapper) {
  const app = `yes "$(printf '%099d' 0)" | head -n ${LINES}`;
  const quoted = [...wrapper, 'sh', '-c', app].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['sh', '-c', `${quoted} | cat >/dev/null`];
}

async function main() {
  const binary = entrypointBinary();
  if (!existsSync(binary)) throw new Error(`${path.relative(ROOT, binary)} is missing: npm run release (or npm run build:binary)`);
  const tini = which('tini');
  const server = await referenceServer();
  try {
    const cases = [
      { name: 'the app alone', argv: pipeline([]), env: cleanEnv() },
      ...(tini ? [{ name: '`tini -s`', argv: pipeline([tini, '-s', '--']), env: cleanEnv(), baseline: true }] : []),
      { name: 'entrypoint, disabled mode', argv: pipeline([binary]), env: cleanEnv({ WAYPOINT_CEB_DISABLE: '1' }), budget: BUDGETS.disabled },
      { name: 'entrypoint, connected (shipping)', argv: pipeline([binary]), env: cleanEnv(server.env), budget: BUDGETS.connected },
    ];
    const samples = new Map(cases.map((c) => [c.name, []]));
    for (let round = 0; round < RUNS; round++) {
      for (const c of cases) samples.get(c.name).push(timeOnce(c.argv, c));
    }
    for (const list of samples.values()) list.sort((a, b) => a - b);
    const base = cases.find((c) => c.baseline);
    const baseMs = base ? median(samples.get(base.name)) : NaN;
    const rows = cases.map((c) => {
      const s = samples.get(c.name);
      return [c.name, fmtMs(median(s)), fmtMs(quantile(s, 0.9)), base ? `${(median(s) / baseMs).toFixed(2)}×` : 'n/a'];
    });
    console.log(`\n## burst writer: ${LINES} lines of 100 bytes into cat, ${path.relative(ROOT, binary)} (ms, ${RUNS} interleaved runs)\n`);
    console.log(markdownTable(['case', 'median', 'p90', 'vs tini -s'], rows));
    if (!base) console.log('\ntini is not installed (Debian: apt-get install -y tini): no ratios');
    for (const c of cases.filter((x) => x.budget && base)) {
      const ratio = median(samples.get(c.name)) / baseMs;
      console.log(`budget: ${c.name} ${ratio.toFixed(2)}× tini -s, budget ≤ ${c.budget}×: ${ratio <= c.budget ? 'ok' : 'FAIL'}`);
    }
  } finally {
    server.stop();
  }
}

main().catch((err) => {
  console.error(`bench burst: ${err.message}`);
  process.exit(1);
});
