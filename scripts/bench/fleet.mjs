// `npm run bench` (fleet part, issue 16): a fleet of simulated instances against one reference
// server on SQLite, and against two replicas on PostgreSQL (fleet-setups.mjs), side by side in
// one run. Each instance is what an entrypoint is on the wire (fleet-instances.mjs): a connection
// of its own, its invite exchanged, one EntrypointConfig stream; with replicas, half of them on
// each. Measured: the time until all are registered, the servers' RSS growth per idle instance
// (both replicas' together), and how long one `config set` (on the first server) takes to reach
// every instance (p50 / p99 / max over BENCH_FLEET_ROUNDS rounds, from just before the SetConfig
// call to each instance's receipt of the new config). The simulator (and PostgreSQL) run on the
// same machine and take CPU from the servers: the fan-out times are an upper bound.
//
// BENCH_FLEET_SETUPS (default sqlite,replicas), BENCH_FLEET_INSTANCES (default 10000),
// BENCH_FLEET_WORKERS (processes of the simulator, default 2), BENCH_FLEET_ROUNDS (default 5),
// BENCH_FLEET_IDLE_S (seconds idle after registration before the RSS is read, default 20).
// BENCH_FLEET_BASELINE=DIR: each setup runs against that checkout's server too (built: npm run
// build there), just before this one's, so that both meet the same machine.
// The open-files limit is raised for the servers and the simulator's processes only (prlimit,
// where permitted), not for the machine.
//
// Profiling: BENCH_FLEET_PROFILE_DIR=DIR with BENCH_SERVER_NODE_ARGS=--cpu-prof (the servers
// stop cleanly at the end of each setup and their profiles are copied to DIR as
// <setup>-<server>-*.cpuprofile, the phases' times in <setup>-phases.json for profile-top.mjs
// --phases); with BENCH_SERVER_NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2 a heap snapshot of
// each server is taken once the fleet idles (after the RSS is read).
import { fork, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { chosenSetups } from './fleet-setups.mjs';
import { envInt, fmtMs, markdownTable, quantile, ROOT } from './lib.mjs';

const INSTANCES = envInt('BENCH_FLEET_INSTANCES', 10_000);
const WORKERS = envInt('BENCH_FLEET_WORKERS', 2);
const ROUNDS = envInt('BENCH_FLEET_ROUNDS', 5);
const IDLE_MS = Math.max(3, envInt('BENCH_FLEET_IDLE_S', 20)) * 1000;
const BASELINE = process.env.BENCH_FLEET_BASELINE ? path.resolve(process.env.BENCH_FLEET_BASELINE) : undefined;
/** Each setup, against the baseline's servers first when there is one. */
const SETUPS = chosenSetups(process.env.BENCH_FLEET_SETUPS || 'sqlite,replicas').flatMap((setup) => [
  ...(BASELINE ? [{ ...setup, name: `${setup.name}-baseline`, title: `${setup.title} (baseline)`, root: BASELINE }] : []),
  { ...setup, root: ROOT },
]);
const PROFILE_DIR = process.env.BENCH_FLEET_PROFILE_DIR;
const HEAP_SIGNAL = /--heapsnapshot-signal=(\w+)/.exec(process.env.BENCH_SERVER_NODE_OPTIONS ?? '')?.[1];

const NOFILE = Math.max(65_536, INSTANCES * 2 + 1_024);
const BUDGET = { instances: 10_000, p99Ms: 1_000, kibPerInstance: 40 };

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

/** The part of `pid`'s RSS in its [heap] mapping, in KiB: the main thread's malloc (nghttp2 sessions and the like), not V8's heap. */
function mallocHeapKiB(pid) {
  let kib = 0;
  let inHeap = false;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) kib += Number(/(\d+)/.exec(line)[1]);
  }
  return kib;
}

/** CPU time (user + system) `pid` has used so far, in ms: solid where wall times are noisy. */
function cpuMs(pid) {
  // Fields after the command's ')' (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** The open-files limit of `pid` (soft), from /proc. */
function openFilesLimit(pid) {
  return Number(/Max open files\s+(\d+)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))[1]);
}

/**
 * Raises `pid`'s open-files limit to NOFILE when it may (root outside a container); where it may
 * not, what it has must do for `needed` descriptors.
 */
function raiseOpenFiles(pid, needed) {
  spawnSync('prlimit', ['--pid', String(pid), `--nofile=${NOFILE}:${NOFILE}`], { encoding: 'utf8' });
  const limit = openFilesLimit(pid);
  if (limit < needed) throw new Error(`process ${pid} may open ${limit} files, ${needed} are needed, and prlimit could not raise it: lower BENCH_FLEET_INSTANCES`);
}

const monoUs = () => Number(process.hrtime.bigint() / 1000n);
const settle = (ms) => new Promise((r) => setTimeout(r, ms));

/** `total` split in `parts` near-equal whole shares. */
const shares = (total, parts) => Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));

/**
 * The simulator's processes: each server gets an equal share of the instances, and of the
 * processes (at least one each).
 */
function startWorkers(servers, deployment) {
  const perServer = Math.max(1, Math.round(WORKERS / servers.length));
  let first = 0;
  return servers.flatMap((server, s) =>
    shares(shares(INSTANCES, servers.length)[s], perServer).map((count) => {
      const spec = { addr: server.addr, deployment: deployment.WAYPOINT_DEPLOYMENT_ID, invite: deployment.WAYPOINT_CEB_INVITE_TOKEN, count, first, concurrency: 64 };
      first += count;
      const child = fork(path.join(ROOT, 'scripts/bench/fleet-instances.mjs'), [], {
        env: { ...process.env, FLEET_WORKER: JSON.stringify(spec) },
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
        execArgv: ['--max-old-space-size=8192'],
      });
      child.needsFiles = count + 256;
      child.server = server.name;
      return child;
    }),
  );
}

function next(child, type) {
  return new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (msg.type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(msg);
    };
    const onExit = (code) => reject(new Error(`a simulator process exited (${code}) before '${type}'`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

function setConfig(client, metadata, round) {
  return new Promise((resolve, reject) =>
    client.SetConfig({ app: 'bench', set: [{ name: 'FLEET_ROUND', kind: 'STATIC', value: Buffer.from(String(round)) }] }, metadata, (err, res) =>
      err ? reject(err) : resolve(Number(res.instances_notified)),
    ),
  );
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);

/** One setup measured: its row of the table, and the lines printed under it. */
async function measure(setup, stack) {
  const { servers, deployment, control, note } = await setup.start(INSTANCES, stack, setup.root);
  const pids = servers.map((s) => s.pid);
  const serversCpu = () => sum(pids.map(cpuMs));
  for (const pid of pids) raiseOpenFiles(pid, INSTANCES + 256);
  await settle(1_000);
  const rssBefore = pids.map(rssKiB);
  const mallocBefore = sum(pids.map(mallocHeapKiB));
  const cpu0 = serversCpu();
  const t0 = Date.now();
  // On the clock V8 stamps profile samples with (profile-top.mjs --phases).
  const phases = { registration: [[monoUs()]], fanout: [] };
  const workers = startWorkers(servers, deployment);
  stack.push(() => workers.forEach((w) => w.kill('SIGKILL')));
  for (const w of workers) raiseOpenFiles(w.pid, w.needsFiles);
  const ready = await Promise.all(workers.map((w) => next(w, 'ready')));
  const registrationMs = Date.now() - t0;
  phases.registration[0].push(monoUs());
  const registrationCpuMs = serversCpu() - cpu0;
  const simulatorCpuMs = sum(workers.map((w) => cpuMs(w.pid)));
  const registered = sum(ready.map((r) => r.registered));
  const failures = ready.flatMap((r) => Object.entries(r.errors));
  const idleFrom = { cpu: serversCpu(), at: Date.now() };
  await settle(3_000);
  const rssJustAfter = pids.map(rssKiB);
  // Idle: the RSS once V8 has collected what registering left behind (its memory reducer acts
  // after some seconds of little allocation), as a fleet's server is most of its life.
  await settle(IDLE_MS - 3_000);
  // Idle is not free: pings, and inline keepalives on every stream.
  const idleCpuShare = (serversCpu() - idleFrom.cpu) / (Date.now() - idleFrom.at);
  const rssAfter = pids.map(rssKiB);
  const mallocKibPer = (sum(pids.map(mallocHeapKiB)) - mallocBefore) / Math.max(1, registered);
  const kibPer = (sum(rssAfter) - sum(rssBefore)) / Math.max(1, registered);
  const kibPerJustAfter = (sum(rssJustAfter) - sum(rssBefore)) / Math.max(1, registered);
  if (HEAP_SIGNAL) await heapSnapshots(servers);

  const latencies = [];
  /** Per server: the latencies of its instances. */
  const byServer = new Map(servers.map((s) => [s.name, []]));
  const notified = [];
  let missing = 0;
  let fanOutCpuMs = 0;
  let simulatorFanOutCpuMs = 0;
  const workersCpu = () => sum(workers.map((w) => cpuMs(w.pid)));
  for (let round = 1; round <= ROUNDS; round++) {
    const cpuStart = serversCpu();
    const simulatorStart = workersCpu();
    const start = Date.now();
    phases.fanout.push([monoUs()]);
    notified.push(await setConfig(control.raw, control.metadata(), round));
    const answers = await Promise.all(
      workers.map((w) => {
        const answer = next(w, 'round');
        w.send({ type: 'collect', round, waitMs: 30_000 });
        return answer;
      }),
    );
    answers.forEach((a, i) => {
      missing += ready[i].registered - a.times.length;
      for (const at of a.times) {
        latencies.push(at - start);
        byServer.get(workers[i].server).push(at - start);
      }
    });
    fanOutCpuMs += serversCpu() - cpuStart;
    simulatorFanOutCpuMs += workersCpu() - simulatorStart;
    phases.fanout.at(-1).push(monoUs());
    await settle(1_000);
  }
  latencies.sort((a, b) => a - b);
  for (const list of byServer.values()) list.sort((a, b) => a - b);
  for (const w of workers) w.kill('SIGKILL');
  if (PROFILE_DIR) await keepProfiles(setup.name, servers, phases);

  const mib = (kib) => (kib / 1024).toFixed(0);
  const row = [
    setup.title,
    `${registered} / ${INSTANCES}`,
    `${(registrationMs / 1000).toFixed(1)} s (${Math.round(registered / (registrationMs / 1000))}/s)`,
    `${rssBefore.map(mib).join(' + ')} → ${rssAfter.map(mib).join(' + ')} MiB`,
    `${kibPer.toFixed(1)} KiB`,
    fmtMs(quantile(latencies, 0.5)),
    fmtMs(quantile(latencies, 0.99)),
    fmtMs(latencies.at(-1)),
    `${ROUNDS} (notified ${notified.join(', ')}; ${missing} receipts missing)`,
  ];
  const lines = [
    `${setup.title}: server CPU ${(registrationCpuMs / 1000).toFixed(1)} s to register (${((registrationCpuMs * 1000) / Math.max(1, registered)).toFixed(0)} µs per instance), ` +
      `${(fanOutCpuMs / ROUNDS).toFixed(0)} ms per config set fan-out, ${(idleCpuShare * 100).toFixed(0)} % of a core idle; ` +
      `simulator CPU: ${(simulatorCpuMs / 1000).toFixed(1)} s while registering, ${(simulatorFanOutCpuMs / ROUNDS).toFixed(0)} ms per fan-out; ` +
      `RSS per instance ${kibPerJustAfter.toFixed(1)} KiB 3 s after the last registration, ${kibPer.toFixed(1)} KiB after ${IDLE_MS / 1000} s idle, ` +
      `${mallocKibPer.toFixed(1)} KiB of it in the malloc heap ([heap]: nghttp2, node's native objects), the rest V8's heap and other mappings`,
    ...(servers.length > 1
      ? [`${setup.title}: fan-out per replica: ${[...byServer].map(([name, l]) => `${name} p50 ${fmtMs(quantile(l, 0.5))} / p99 ${fmtMs(quantile(l, 0.99))} / max ${fmtMs(l.at(-1))} ms`).join('; ')}`]
      : []),
    ...(note ? [note] : []),
    ...failures.map(([what, n]) => `${setup.title}: registration failures: ${n} × ${what}`),
  ];
  const verdict = (ok) => (ok ? 'ok' : 'FAIL');
  const budgets = [
    `${setup.title}: budget ${BUDGET.instances} instances on this machine: ${verdict(registered >= BUDGET.instances)}`,
    `${setup.title}: budget fan-out p99 ≤ ${BUDGET.p99Ms} ms: ${verdict(quantile(latencies, 0.99) <= BUDGET.p99Ms && missing === 0)}`,
    `${setup.title}: budget ≤ ${BUDGET.kibPerInstance} KiB RSS per idle instance: ${verdict(kibPer <= BUDGET.kibPerInstance)}`,
  ];
  return { row, lines: [...lines, ...budgets] };
}

/** A heap snapshot of each server (written in its dir), one at a time; resolves once written. */
async function heapSnapshots(servers) {
  for (const s of servers) {
    const written = () => readdirSync(s.dir).filter((f) => f.endsWith('.heapsnapshot'));
    const before = written().length;
    process.kill(s.pid, HEAP_SIGNAL);
    const deadline = Date.now() + 300_000;
    // Written when its size stops growing (the file appears at the start).
    let last = -1;
    for (;;) {
      await settle(1_000);
      const files = written();
      if (files.length > before) {
        const size = statSync(path.join(s.dir, files.at(-1))).size;
        if (size === last && size > 0) break;
        last = size;
      }
      if (Date.now() > deadline) throw new Error(`no heap snapshot of server ${s.name} within 300 s`);
    }
  }
}

/** Stops the servers cleanly (a CPU profile is written at exit) and copies their profiles. */
async function keepProfiles(setupName, servers, phases) {
  mkdirSync(PROFILE_DIR, { recursive: true });
  writeFileSync(path.join(PROFILE_DIR, `${setupName}-phases.json`), JSON.stringify(phases));
  for (const s of servers) {
    await s.terminate();
    for (const file of readdirSync(s.dir).filter((f) => /\.(cpuprofile|heapsnapshot)$/.test(f))) {
      const target = path.join(PROFILE_DIR, `${setupName}-${s.name}-${file}`);
      copyFileSync(path.join(s.dir, file), target);
      console.log(`kept ${target}`);
    }
  }
}

/** Runs the cleanups of `stack`, last first; none may stop the others. */
function unwind(stack) {
  for (const cleanup of stack.splice(0).reverse()) {
    try {
      cleanup();
    } catch (err) {
      console.error(`bench fleet: cleanup: ${err.message}`);
    }
  }
}

async function main() {
  const stack = [];
  // Interrupted: what was started goes too (the cluster, the servers, the simulator).
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      unwind(stack);
      process.exit(130);
    });
  }
  const results = [];
  try {
    for (const setup of SETUPS) {
      results.push(await measure(setup, stack));
      unwind(stack);
    }
  } finally {
    unwind(stack);
  }
  console.log(`\n## fleet: ${INSTANCES} simulated instances (${WORKERS} simulator processes)${BASELINE ? `, baseline ${BASELINE}` : ''}\n`);
  console.log(
    markdownTable(
      ['setup', 'instances registered', 'time to all registered', 'server RSS before → after', 'per instance', 'config set → every instance: p50', 'p99', 'max', 'rounds'],
      results.map((r) => r.row),
    ),
  );
  for (const r of results) for (const line of r.lines) console.log(line);
}

main().catch((err) => {
  console.error(`bench fleet: ${err.message}`);
  process.exit(1);
});
