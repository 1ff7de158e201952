// `npm run bench` (burst part): an app that writes as fast as it can, and whether we hold it
// back. `yes <100-byte line> | head -n 1000000` into `cat >/dev/null`, medians of
// BENCH_BURST_RUNS (default 9) interleaved rounds: the app alone, under `tini -s`, and under the
// entrypoint in disabled mode and connected to the reference server (shipping every line). Two
// times per case: the app's own (from its first write to its last, as it measures itself: what
// issue 17's budgets are about, "the app never waits for us": disabled <= 1.05x tini, connected
// <= 1.3x tini), and the whole pipeline's (connected, it includes our final log flush, up to
// 2 s). Ratios to tini come two ways: of the medians, and the median of each round's own ratio
// (a round's runs share the machine's moment); a budget holds when both are within it, and
// the app alone against tini shows how far two cases that add nothing differ. Connected, the
// lines shipped and dropped too, as the entrypoint's log accounts for them
// (its warnings: dropped in all, and not shipped at exit; shipped is the rest of the app's
// lines), median over the runs. The entrypoint is the x64 release binary when built (npm run
// release), else dist/waypoint-entrypoint; BENCH_BINARY=… for another. BENCH_BURST_BASELINE=…
// adds another binary's connected and unreachable cases to the same rounds (a build before a change). Each case
// also reports the wrapper's own CPU time (user + system, ms: the shell's `times` of what it
// waited for, less the app's own), which stays meaningful on a shared machine where wall
// time is noise; connected, that CPU per MB of the app's output too. One more case points the
// entrypoint at a closed port: it captures every line into its backlog (1 MiB, the oldest
// dropped) and ships none, so the cost of capture shows apart from shipping's and the server's.
// And one without us: the app's output through one more `cat`, the least a relay costs.
// The reference server runs on this machine, where it takes CPU from the app (1 M lines to take
// in); in production it runs elsewhere. So connected is measured twice: against a server at the
// normal priority, and against a second one whose threads all run at nice 19, which gets a core
// only when the app, cat and we leave one idle: about what the app sees when the server has a
// machine of its own. The server's CPU time during each connected run is reported too.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, entrypointBinary, envInt, fmtMs, markdownTable, median, processCpuMs, quantile, referenceServer, ROOT, timeOnce, which } from './lib.mjs';

const LINES = envInt('BENCH_BURST_LINES', 1_000_000);
const RUNS = envInt('BENCH_BURST_RUNS', 9);
const BUDGETS = { disabled: 1.05, connected: 1.3 };

/**
 * The whole pipeline, as a shell runs it: `<wrapper…> sh -c 'yes … | head' | cat >/dev/null`;
 * the app writes its own duration (µs) to `mark`.
 */
function pipeline(wrapper, mark, stderrFile) {
  const app = `s=$(date +%s%N); yes "$(printf '%099d' 0)" | head -n ${LINES}; e=$(date +%s%N); echo $(( (e - s) / 1000 )) > '${mark}'; times > '${mark}.app-cpu'`;
  const quote = (a) => `'${a.replace(/'/g, `'\\''`)}'`;
  // The wrapper under a shell of its own, whose `times` counts the wrapper and the app it reaped.
  const counted = `"$@"${stderrFile ? ` 2>${quote(stderrFile)}` : ''}; times > ${quote(`${mark}.all-cpu`)}`;
  const quoted = ['sh', '-c', counted, 'sh', ...wrapper, 'sh', '-c', app].map(quote).join(' ');
  return ['sh', '-c', `${quoted} | cat >/dev/null`];
}

/** CPU ms in `times` output: the shell's own and its children's, or only the children's. */
function timesMs(text, childrenOnly) {
  const secs = [...text.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  return (childrenOnly ? secs[2] + secs[3] : secs.reduce((a, b) => a + b, 0)) * 1000;
}

/** The wrapper's own CPU in a run: all that its shell waited for, less the app's. */
function wrapperCpuMs(mark) {
  return Math.max(0, timesMs(readFileSync(`${mark}.all-cpu`, 'utf8'), true) - timesMs(readFileSync(`${mark}.app-cpu`, 'utf8'), false));
}

/** The app's lines by the entrypoint's account (its log on stderr): dropped, not shipped at exit, shipped. */
function lineAccount(stderr) {
  const dropped = Number([...stderr.matchAll(/log lines were dropped: .* total=(\d+)/g)].at(-1)?.[1] ?? 0);
  const unshipped = Number(/log lines were not shipped: .* lines=(\d+)/.exec(stderr)?.[1] ?? 0);
  return { dropped, unshipped, shipped: LINES - dropped - unshipped };
}

/** Every thread of a process (setpriority on a pid is its main thread's alone on Linux). */
function reniceAll(pid, nice) {
  for (const tid of readdirSync(`/proc/${pid}/task`)) os.setPriority(Number(tid), nice);
}

async function main() {
  const binary = entrypointBinary();
  const baseline = process.env.BENCH_BURST_BASELINE;
  if (baseline && !existsSync(baseline)) throw new Error(`BENCH_BURST_BASELINE: ${baseline} is missing`);
  if (!existsSync(binary)) throw new Error(`${path.relative(ROOT, binary)} is missing: npm run release (or npm run build:binary)`);
  const tini = which('tini');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-burst-'));
  const server = await referenceServer();
  let niceServer;
  try {
    niceServer = await referenceServer();
    reniceAll(niceServer.pid, 19);
    const unreachable = cleanEnv({ ...server.env, WAYPOINT_SERVER_ADDR: '127.0.0.1:9' });
    const cases = [
      { name: 'the app alone', wrapper: [], env: cleanEnv() },
      ...(tini ? [{ name: '`tini -s`', wrapper: [tini, '-s', '--'], env: cleanEnv(), baseline: true }] : []),
      // The app's output through one more `cat`: what any relay that sees every byte (ours must,
      // to capture lines) costs the app at the least, one more party on the pipeline's cores.
      { name: 'the app through one more `cat` (a hop, no capture)', wrapper: ['sh', '-c', '"$@" | cat', 'hop'], env: cleanEnv() },
      { name: 'entrypoint, disabled mode', wrapper: [binary], env: cleanEnv({ WAYPOINT_CEB_DISABLE: '1' }), budget: BUDGETS.disabled },
      { name: 'entrypoint, connected (shipping)', wrapper: [binary], env: cleanEnv(server.env), budget: BUDGETS.connected, account: true, perMb: true, server },
      { name: 'entrypoint, connected, the server at nice 19', wrapper: [binary], env: cleanEnv(niceServer.env), account: true, perMb: true, server: niceServer },
      // Capture without shipping: where the cost of cutting and encoding lines shows apart from the server's.
      { name: 'entrypoint, server unreachable (capture only)', wrapper: [binary], env: unreachable, perMb: true },
      ...(baseline
        ? [
            { name: `baseline ${path.basename(baseline)}, connected (shipping)`, wrapper: [baseline], env: cleanEnv(server.env), account: true, perMb: true },
            { name: `baseline ${path.basename(baseline)}, server unreachable`, wrapper: [baseline], env: unreachable, perMb: true },
          ]
        : []),
    ];
    const app = new Map(cases.map((c) => [c.name, []]));
    const whole = new Map(cases.map((c) => [c.name, []]));
    const accounts = new Map(cases.map((c) => [c.name, []]));
    const cpu = new Map(cases.map((c) => [c.name, []]));
    const serverCpu = new Map(cases.map((c) => [c.name, []]));
    const mark = path.join(dir, 'app-us');
    const stderrFile = path.join(dir, 'stderr');
    for (let round = 0; round < RUNS; round++) {
      for (const c of cases) {
        rmSync(mark, { force: true });
        const serverBefore = c.server && processCpuMs(c.server.pid);
        whole.get(c.name).push(timeOnce(pipeline(c.wrapper, mark, c.account && stderrFile), c));
        if (c.server) serverCpu.get(c.name).push(processCpuMs(c.server.pid) - serverBefore);
        app.get(c.name).push(Number(readFileSync(mark, 'utf8')) / 1000);
        cpu.get(c.name).push(wrapperCpuMs(mark));
        if (c.account) accounts.get(c.name).push(lineAccount(readFileSync(stderrFile, 'utf8')));
      }
    }
    const base = cases.find((c) => c.baseline);
    // Each round's ratio to tini's run in the same round, before the lists are sorted: two runs
    // of the same round share the machine's state of the moment (what else runs, the page
    // cache, frequency), so their ratio scatters less than a ratio of medians over all rounds.
    const paired = new Map(cases.map((c) => [c.name, base ? app.get(c.name).map((ms, i) => ms / app.get(base.name)[i]).sort((a, b) => a - b) : []]));
    for (const list of [...app.values(), ...whole.values(), ...cpu.values(), ...serverCpu.values()]) list.sort((a, b) => a - b);
    const baseMs = base ? median(app.get(base.name)) : NaN;
    const rows = cases.map((c) => {
      const s = app.get(c.name);
      const a = accounts.get(c.name);
      const lines = (f) => String(median(a.map(f).sort((x, y) => x - y)));
      const shipped = a.length ? `${lines((x) => x.shipped)} / ${lines((x) => x.dropped + x.unshipped)}` : 'n/a';
      const cpuMs = median(cpu.get(c.name));
      const perMb = c.perMb ? (cpuMs / ((LINES * 100) / 1e6)).toFixed(1) : 'n/a';
      const serverMs = c.server ? fmtMs(median(serverCpu.get(c.name))) : 'n/a';
      const ratios = base ? `${(median(s) / baseMs).toFixed(2)}× / ${median(paired.get(c.name)).toFixed(2)}×` : 'n/a';
      return [c.name, fmtMs(median(s)), fmtMs(quantile(s, 0.9)), ratios, fmtMs(median(whole.get(c.name))), fmtMs(cpuMs), perMb, shipped, serverMs];
    });
    console.log(`\n## burst writer: ${LINES} lines of 100 bytes into cat, ${path.relative(ROOT, binary)} (ms, ${RUNS} interleaved runs)\n`);
    console.log(markdownTable(['case', 'app median', 'app p90', 'app vs tini -s: of medians / median of rounds', 'whole pipeline median', 'wrapper CPU median', 'wrapper CPU ms per MB', 'lines shipped / dropped', 'server CPU median'], rows));
    if (!base) console.log('\ntini is not installed (Debian: apt-get install -y tini): no ratios');
    for (const c of cases.filter((x) => x.budget && base)) {
      const ratio = median(app.get(c.name)) / baseMs;
      const round = median(paired.get(c.name));
      const verdict = ratio <= c.budget && round <= c.budget ? 'ok' : ratio > c.budget && round > c.budget ? 'FAIL' : 'ok by one measure only';
      console.log(`budget: ${c.name}, the app's own time ${ratio.toFixed(2)}× under tini -s (of medians), ${round.toFixed(2)}× (median of the rounds' ratios), budget ≤ ${c.budget}×: ${verdict}`);
    }
    // What two cases that add nothing to the app differ by: the noise a ratio here carries.
    const alone = cases.find((c) => c.wrapper.length === 0);
    if (base && alone) console.log(`noise: the app alone against tini -s, neither adding anything, ${(median(app.get(alone.name)) / baseMs).toFixed(2)}× / ${median(paired.get(alone.name)).toFixed(2)}×`);
  } finally {
    server.stop();
    niceServer?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench burst: ${err.message}`);
  process.exit(1);
});
