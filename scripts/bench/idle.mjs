// `npm run bench` (last part): what an idle instance costs. The single binary in front of an app
// that does nothing (`sleep`), connected to the reference server on loopback (config stream,
// log stream, URL tunnel registered, keepalives flowing), beside the same binary in disabled mode
// in the same run. Both run at once: idle processes do not compete.
//   - RSS (VmRSS) after BENCH_IDLE_SETTLE seconds (default 30). Budgets (issue 11, the release
//     binary): <= 48 MiB connected, of which RssAnon <= 12 MiB; printed as ratios to the budget,
//     with the part disabled mode already has (the runtime and our supervisor) apart. Most of it is the binary's own pages (RssFile): its page cache is dropped first, since a
//     freshly built binary (written by one big write(), in large folios) maps ~10-20 MiB more
//     than the same file read back from disk (lib.mjs dropPageCache); RssAnon (heap, private
//     memory) is what the entrypoint itself decides, so it is shown too.
//   - CPU (utime + stime) over the next BENCH_IDLE_WINDOW seconds (default 60). Budget: <= 0.1 s.
// BENCH_BINARY: another binary (default: the x64 release binary, dist/release/waypoint-entrypoint-linux-x64,
// when `npm run release` made it; else dist/waypoint-entrypoint).
// BENCH_ENFORCE=1: exit 1 when over budget.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, dropPageCache, entrypointBinary, envInt, markdownTable, referenceServer, ROOT, stopEntrypoint } from './lib.mjs';

const BINARY = path.resolve(ROOT, entrypointBinary());
const CTL = path.join(ROOT, 'bin/waypoint-ctl');
const RSS_BUDGET_MIB = 48;
const ANON_BUDGET_MIB = 12;
const CPU_BUDGET_S = 0.1;
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After "pid (comm) ": state is field 0, utime field 11, stime field 12.
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function statusMiB(pid, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Waits until the server lists an instance serving app "bench" through its tunnel. */
async function untilServed(server) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const r = spawnSync(CTL, ['url', '--app', 'bench', '--json'], { env: server.ctlEnv, encoding: 'utf8' });
    if (r.status === 0 && JSON.parse(r.stdout).some((u) => u.instances > 0)) return;
    if (Date.now() > deadline) throw new Error(`the connected entrypoint did not register its tunnel within 15 s: ${r.stderr}`);
    await sleep(200);
  }
}

async function main() {
  const settleS = envInt('BENCH_IDLE_SETTLE', 30);
  const windowS = envInt('BENCH_IDLE_WINDOW', 60);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  if (!existsSync(BINARY)) throw new Error(`missing ${path.relative(ROOT, BINARY)} (npm run build, npm run build:binary)`);

  const server = await referenceServer();
  const cases = [
    { name: 'disabled mode (reference)', env: cleanEnv({ WAYPOINT_CEB_DISABLE: '1' }) },
    { name: 'connected (config, logs, URL tunnel)', env: cleanEnv(server.env), budget: true },
  ];
  const rows = [];
  let verdict = true;
  try {
    dropPageCache(BINARY);
    for (const c of cases) c.child = spawn(BINARY, ['sleep', String(settleS + windowS + 60)], { env: c.env, stdio: 'ignore' });
    // A connected case that never connected would idle cheaper and pass for nothing.
    await untilServed(server);
    await sleep(settleS * 1000);
    for (const c of cases) {
      if (c.child.exitCode !== null) throw new Error(`${c.name}: the entrypoint exited early (${c.child.exitCode})`);
      c.rss = statusMiB(c.child.pid, 'VmRSS');
      c.anon = statusMiB(c.child.pid, 'RssAnon');
      c.file = statusMiB(c.child.pid, 'RssFile');
      c.cpu0 = cpuSeconds(c.child.pid);
    }
    await sleep(windowS * 1000);
    for (const c of cases) {
      const cpu = cpuSeconds(c.child.pid) - c.cpu0;
      rows.push([c.name, c.rss.toFixed(1), c.anon.toFixed(1), c.file.toFixed(1), statusMiB(c.child.pid, 'VmHWM').toFixed(1), cpu.toFixed(2)]);
      if (c.budget) {
        c.ok = c.rss <= RSS_BUDGET_MIB && c.anon <= ANON_BUDGET_MIB && cpu <= CPU_BUDGET_S;
        verdict = c.ok;
        c.summary =
          `RSS ${c.rss.toFixed(1)} MiB (≤ ${RSS_BUDGET_MIB}: ${(c.rss / RSS_BUDGET_MIB).toFixed(2)}×), ` +
          `RssAnon ${c.anon.toFixed(1)} MiB (≤ ${ANON_BUDGET_MIB}: ${(c.anon / ANON_BUDGET_MIB).toFixed(2)}×), ` +
          `CPU ${cpu.toFixed(2)} s in ${windowS} s (≤ ${CPU_BUDGET_S})`;
      }
    }
  } finally {
    await Promise.all(cases.map((c) => stopEntrypoint(c.child)));
    server.stop();
  }
  out(`## idle instance: ${path.relative(ROOT, BINARY)} in front of \`sleep\``);
  out();
  out(markdownTable(['case', `RSS MiB after ${settleS} s`, 'of which RssAnon MiB', 'RssFile MiB', 'peak RSS MiB', `CPU s over the next ${windowS} s`], rows));
  out();
  const connected = cases.find((c) => c.budget);
  out(`budget: connected and idle, ${connected.summary} → ${verdict ? 'PASS' : 'FAIL'}`);
  // Where an overrun comes from: disabled mode is the runtime plus our supervisor; what the
  // connection adds (gRPC, protobuf, the streams) is the connected working set of our own.
  const disabled = cases[0];
  out(
    `of which disabled mode: RSS ${disabled.rss.toFixed(1)}, RssAnon ${disabled.anon.toFixed(1)}, RssFile ${disabled.file.toFixed(1)} MiB; ` +
      `the connection adds RSS ${(connected.rss - disabled.rss).toFixed(1)}, RssAnon ${(connected.anon - disabled.anon).toFixed(1)}, ` +
      `RssFile ${(connected.file - disabled.file).toFixed(1)} MiB`,
  );
  if (process.env.BENCH_ENFORCE === '1' && !verdict) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
