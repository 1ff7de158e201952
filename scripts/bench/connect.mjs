// `npm run bench` (second part): how long after the entrypoint starts does the app start, in
// connected mode. The app reports its own start time (`date +%s%N`), so the figure is from our
// spawn to the app's first instruction, not to when its output reached us.
//   - server up: the reference server (`waypoint-ctl server run`) on loopback; the app starts
//     with its first config. DESIGN.md section 7 budget: <= 200 ms, binary.
//   - server down (connection refused) and a silent peer (accepts TCP, never answers): the app
//     starts when the connect timeout runs out (fail-open), BENCH_CONNECT_TIMEOUT (default 1s).
//   - disabled mode, for reference: what the connection adds.
//   - server up, the app's config with a dynamic var (the `null` source): what loading and
//     running dynamic config (dist/dynamic.cjs) adds to a static-only config (issue 15).
// BENCH_CONNECT_RUNS (default 20): runs of the server-up cases; the timeout cases run 3 times.
// BENCH_BASELINE=DIR: another tree's dist/waypoint-entrypoint (a baseline commit, built) runs the
// disabled and server-up cases too. The disabled and server-up cases (and baselines) take turns
// run by run against the same server.
// BENCH_ENFORCE=1: exit 1 when over budget.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, envInt, fmtMs, markdownTable, median, quantile, referenceServer, ROOT } from './lib.mjs';

const BINARY = path.join(ROOT, 'dist/waypoint-entrypoint');
const LAUNCHER = path.join(ROOT, 'bin/waypoint-entrypoint');
const CTL = path.join(ROOT, 'bin/waypoint-ctl');
const BUDGET_MS = 200;
const BASELINE = process.env.BENCH_BASELINE ? path.join(path.resolve(process.env.BENCH_BASELINE), 'dist/waypoint-entrypoint') : undefined;
const APP = ['sh', '-c', 'date +%s%N'];

/** Wall-clock now in ms, sub-millisecond. */
const now = () => performance.timeOrigin + performance.now();

/** Runs `bin APP` once; resolves with ms from spawn to the app's own start. */
function startLatency(bin, env) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(bin, APP, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /^(\d+)\s*$/m.exec(out);
      if (code !== 0 || !m) return reject(new Error(`${bin} exited ${code}: ${out}${err}`.trim()));
      resolve(Number(BigInt(m[1]) / 1000n) / 1000 - t0);
    });
  });
}

/** A TCP peer that accepts and never says anything, in a process of its own. */
async function silentPeer() {
  const server = createServer((socket) => socket.on('error', () => {}));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { addr: `127.0.0.1:${server.address().port}`, stop: () => server.close() };
}

async function refusedAddr() {
  const s = createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const addr = `127.0.0.1:${s.address().port}`;
  await new Promise((resolve) => s.close(resolve));
  return addr;
}

/** Samples of each case, the cases taking turns run by run (a pair compared on equal terms). */
async function sample(cases, runs) {
  for (const c of cases) await startLatency(c.bin, c.env); // warm-up: page cache, the server's first registration
  const samples = cases.map(() => []);
  for (let i = 0; i < runs; i++) for (const [j, c] of cases.entries()) samples[j].push(await startLatency(c.bin, c.env));
  return samples.map((s) => s.sort((a, b) => a - b));
}

/** A second app of the server whose config has a dynamic var: the env of an instance of it. */
async function dynamicDeployment(server) {
  const ctl = (args) =>
    new Promise((resolve, reject) => {
      const child = spawn(CTL, args, { env: server.ctlEnv, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.stderr.on('data', (c) => (out += c));
      child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`waypoint-ctl ${args.join(' ')} exited ${code}: ${out}`))));
    });
  await ctl(['config', 'set', '--app', 'bench-dynamic', '--dynamic', 'null', 'GREETING', 'static_value=hello']);
  return JSON.parse(await ctl(['deployment', 'create', 'bench-dynamic', '--json'])).env;
}

async function main() {
  const runs = envInt('BENCH_CONNECT_RUNS', 20);
  const timeout = process.env.BENCH_CONNECT_TIMEOUT || '1s';
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const missing = [BINARY, LAUNCHER, CTL, ...(BASELINE ? [BASELINE] : [])].filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`missing ${missing.map((f) => path.relative(ROOT, f)).join(', ')} (npm run build, npm run build:binary)`);

  const server = await referenceServer();
  const silent = await silentPeer();
  const refused = await refusedAddr();
  const rows = [];
  let budgetMs;
  try {
    const up = { ...server.env, WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' };
    const dynamic = { ...(await dynamicDeployment(server)), WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' };
    const cases = [
      { name: 'disabled mode (reference), binary', bin: BINARY, env: cleanEnv({ WAYPOINT_CEB_DISABLE: '1' }), runs },
      { name: 'server up, with its config, binary', bin: BINARY, env: cleanEnv(up), runs, budget: true },
      { name: 'server up, with its config, bundle via launcher', bin: LAUNCHER, env: cleanEnv(up), runs },
      { name: 'server up, a config with a dynamic (null) var, binary', bin: BINARY, env: cleanEnv(dynamic), runs, dynamic: true },
      { name: `server down (refused), binary, timeout ${timeout}`, bin: BINARY, env: cleanEnv({ WAYPOINT_SERVER_ADDR: refused, WAYPOINT_CEB_CONNECT_TIMEOUT: timeout }), runs: 3 },
      { name: `silent peer, binary, timeout ${timeout}`, bin: BINARY, env: cleanEnv({ WAYPOINT_SERVER_ADDR: silent.addr, WAYPOINT_CEB_CONNECT_TIMEOUT: timeout }), runs: 3 },
    ];
    // The quick cases take turns run by run, all in one group: a moment of load on this shared
    // machine then falls on all of them, not on one case's 20 runs in a row (which made a
    // static config look slower than a dynamic one). The timeout cases run apart.
    const quick = cases.filter((c) => c.runs > 3).flatMap((c) => [c, ...(BASELINE && c.bin === BINARY && !c.dynamic ? [{ ...c, name: `${c.name} (baseline)`, bin: BASELINE, budget: false }] : [])]);
    const groups = [quick, ...cases.filter((c) => c.runs <= 3).map((c) => [c])];
    for (const group of groups) {
      const samples = await sample(group, group[0].runs);
      for (const [j, g] of group.entries()) {
        const s = samples[j];
        rows.push([g.name, String(g.runs), fmtMs(median(s)), fmtMs(quantile(s, 0.9)), fmtMs(s[0]), fmtMs(s[s.length - 1])]);
        if (g.budget) budgetMs = median(s);
      }
    }
  } finally {
    server.stop();
    silent.stop();
  }
  out(`## connected start-up: entrypoint start → app start (Node ${process.version})`);
  out();
  out(markdownTable(['case', 'runs', 'median ms', 'p90 ms', 'min ms', 'max ms'], rows));
  out();
  const ok = budgetMs <= BUDGET_MS;
  out(`budget: app started with its config ≤ ${BUDGET_MS} ms after our start (binary, server on loopback): ${fmtMs(budgetMs)} ms → ${ok ? 'PASS' : 'FAIL'}`);
  if (process.env.BENCH_ENFORCE === '1' && !ok) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
