// `npm run bench` (burst part): an app that writes as fast as it can, and whether we hold it
// back. `yes <100-byte line> | head -n 1000000` into `cat >/dev/null`, medians of
// BENCH_BURST_RUNS (default 5) interleaved rounds: the app alone, under `tini -s`, and under the
// entrypoint in disabled mode and connected to the reference server (shipping every line). Two
// times per case: the app's own (from its first write to its last, as it measures itself: what
// issue 17's budgets are about, "the app never waits for us": disabled <= 1.05x tini, connected
// <= 1.3x tini), and the whole pipeline's (connected, it includes our final log flush, up to
// 2 s). Connected, the lines shipped and dropped too, as the entrypoint's log accounts for them
// (its warnings: dropped in all, and not shipped at exit; shipped is the rest of the app's
// lines), median over the runs. The entrypoint is the x64 release binary when built (npm run
// release), else dist/waypoint-entrypoint; BENCH_BINARY=… for another.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
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

/**
 * The whole pipeline, as a shell runs it: `<wrapper…> sh -c 'yes … | head' | cat >/dev/null`;
 * the app writes its own duration (µs) to `mark`.
 */
function pipeline(wrapper, mark, stderrFile) {
  const app = `s=$(date +%s%N); yes "$(printf '%099d' 0)" | head -n ${LINES}; e=$(date +%s%N); echo $(( (e - s) / 1000 )) > '${mark}'`;
  const quoted = [...wrapper, 'sh', '-c', app].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return ['sh', '-c', `${quoted}${stderrFile ? ` 2>'${stderrFile}'` : ''} | cat >/dev/null`];
}

/** The app's lines by the entrypoint's account (its log on stderr): dropped, not shipped at exit, shipped. */
function lineAccount(stderr) {
  const dropped = Number([...stderr.matchAll(/log lines were dropped: .* total=(\d+)/g)].at(-1)?.[1] ?? 0);
  const unshipped = Number(/log lines were not shipped: .* lines=(\d+)/.exec(stderr)?.[1] ?? 0);
  return { dropped, unshipped, shipped: LINES - dropped - unshipped };
}

async function main() {
  const binary = entrypointBinary();
  if (!existsSync(binary)) throw new Error(`${path.relative(ROOT, binary)} is missing: npm run release (or npm run build:binary)`);
  const tini = which('tini');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-burst-'));
  const server = await referenceServer();
  try {
    const cases = [
      { name: 'the app alone', wrapper: [], env: cleanEnv() },
      ...(tini ? [{ name: '`tini -s`', wrapper: [tini, '-s', '--'], env: cleanEnv(), baseline: true }] : []),
      { name: 'entrypoint, disabled mode', wrapper: [binary], env: cleanEnv({ WAYPOINT_CEB_DISABLE: '1' }), budget: BUDGETS.disabled },
      { name: 'entrypoint, connected (shipping)', wrapper: [binary], env: cleanEnv(server.env), budget: BUDGETS.connected, account: true },
    ];
    const app = new Map(cases.map((c) => [c.name, []]));
    const whole = new Map(cases.map((c) => [c.name, []]));
    const accounts = new Map(cases.map((c) => [c.name, []]));
    const mark = path.join(dir, 'app-us');
    const stderrFile = path.join(dir, 'stderr');
    for (let round = 0; round < RUNS; round++) {
      for (const c of cases) {
        rmSync(mark, { force: true });
        whole.get(c.name).push(timeOnce(pipeline(c.wrapper, mark, c.account && stderrFile), c));
        app.get(c.name).push(Number(readFileSync(mark, 'utf8')) / 1000);
        if (c.account) accounts.get(c.name).push(lineAccount(readFileSync(stderrFile, 'utf8')));
      }
    }
    for (const list of [...app.values(), ...whole.values()]) list.sort((a, b) => a - b);
    const base = cases.find((c) => c.baseline);
    const baseMs = base ? median(app.get(base.name)) : NaN;
    const rows = cases.map((c) => {
      const s = app.get(c.name);
      const a = accounts.get(c.name);
      const lines = (f) => String(median(a.map(f).sort((x, y) => x - y)));
      const shipped = a.length ? `${lines((x) => x.shipped)} / ${lines((x) => x.dropped + x.unshipped)}` : 'n/a';
      return [c.name, fmtMs(median(s)), fmtMs(quantile(s, 0.9)), base ? `${(median(s) / baseMs).toFixed(2)}×` : 'n/a', fmtMs(median(whole.get(c.name))), shipped];
    });
    console.log(`\n## burst writer: ${LINES} lines of 100 bytes into cat, ${path.relative(ROOT, binary)} (ms, ${RUNS} interleaved runs)\n`);
    console.log(markdownTable(['case', 'app median', 'app p90', 'app vs tini -s', 'whole pipeline median', 'lines shipped / dropped'], rows));
    if (!base) console.log('\ntini is not installed (Debian: apt-get install -y tini): no ratios');
    for (const c of cases.filter((x) => x.budget && base)) {
      const ratio = median(app.get(c.name)) / baseMs;
      console.log(`budget: ${c.name}, the app's own time ${ratio.toFixed(2)}× under tini -s, budget ≤ ${c.budget}×: ${ratio <= c.budget ? 'ok' : 'FAIL'}`);
    }
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench burst: ${err.message}`);
  process.exit(1);
});
