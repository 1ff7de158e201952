// `npm run bench` (fleet part, issue 16): a fleet of simulated instances against one reference
// server. Each instance is what an entrypoint is on the wire (fleet-instances.mjs): a connection
// of its own, its invite exchanged, one EntrypointConfig stream. Measured: the time until all are
// registered, the server's RSS per idle instance, and how long one `config set` takes to reach
// every instance (p50 / p99 / max over BENCH_FLEET_ROUNDS rounds, from just before the SetConfig
// call to each instance's receipt of the new config). The simulator runs on the same machine
// and takes CPU from the server: the fan-out times are an upper bound.
//
// BENCH_FLEET_INSTANCES (default 10000), BENCH_FLEET_WORKERS (processes of the simulator,
// default 2), BENCH_FLEET_ROUNDS (default 5). The open-files limit is raised for the server and
// the simulator's processes only (prlimit, where permitted), not for the machine.
import { fork, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { controlClient, envInt, fmtMs, markdownTable, quantile, referenceServer, ROOT } from './lib.mjs';

const INSTANCES = envInt('BENCH_FLEET_INSTANCES', 10_000);
const WORKERS = envInt('BENCH_FLEET_WORKERS', 2);
const ROUNDS = envInt('BENCH_FLEET_ROUNDS', 5);
const NOFILE = Math.max(65_536, INSTANCES * 2 + 1_024);
const BUDGET = { instances: 10_000, p99Ms: 1_000, kibPerInstance: 40 };

function rssKiB(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
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

const settle = (ms) => new Promise((r) => setTimeout(r, ms));

function startWorkers(server) {
  const per = Math.ceil(INSTANCES / WORKERS);
  return Array.from({ length: WORKERS }, (_, w) => {
    const count = Math.min(per, INSTANCES - w * per);
    const spec = { addr: server.addr, deployment: server.env.WAYPOINT_DEPLOYMENT_ID, invite: server.env.WAYPOINT_CEB_INVITE_TOKEN, count, first: w * per, concurrency: 64 };
    const child = fork(path.join(ROOT, 'scripts/bench/fleet-instances.mjs'), [], {
      env: { ...process.env, FLEET_WORKER: JSON.stringify(spec) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: ['--max-old-space-size=8192'],
    });
    child.needsFiles = count + 256;
    return child;
  });
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

async function main() {
  const server = await referenceServer({ extraArgs: ['--max-instances-per-deployment', String(INSTANCES + 100)] });
  const control = controlClient(server.addr, server.operatorToken);
  let workers = [];
  try {
    raiseOpenFiles(server.pid, INSTANCES + 256);
    await settle(1_000);
    const rssBefore = rssKiB(server.pid);
    const cpu0 = cpuMs(server.pid);
    const t0 = Date.now();
    workers = startWorkers(server);
    for (const w of workers) raiseOpenFiles(w.pid, w.needsFiles);
    const ready = await Promise.all(workers.map((w) => next(w, 'ready')));
    const registrationMs = Date.now() - t0;
    const registrationCpuMs = cpuMs(server.pid) - cpu0;
    const simulatorCpuMs = workers.reduce((ms, w) => ms + cpuMs(w.pid), 0);
    const registered = ready.reduce((n, r) => n + r.registered, 0);
    const failures = ready.flatMap((r) => Object.entries(r.errors));
    const idleFrom = { cpu: cpuMs(server.pid), at: Date.now() };
    await settle(3_000);
    // Idle is not free: pings, and inline keepalives on every stream.
    const idleCpuShare = (cpuMs(server.pid) - idleFrom.cpu) / (Date.now() - idleFrom.at);
    const rssAfter = rssKiB(server.pid);
    const kibPer = (rssAfter - rssBefore) / Math.max(1, registered);

    const latencies = [];
    const notified = [];
    let missing = 0;
    let fanOutCpuMs = 0;
    for (let round = 1; round <= ROUNDS; round++) {
      const cpuStart = cpuMs(server.pid);
      const start = Date.now();
      notified.push(await setConfig(control.raw, control.metadata(), round));
      const answers = await Promise.all(
        workers.map((w) => {
          const answer = next(w, 'round');
          w.send({ type: 'collect', round, waitMs: 30_000 });
          return answer;
        }),
      );
      const times = answers.flatMap((a) => a.times);
      missing += registered - times.length;
      for (const at of times) latencies.push(at - start);
      fanOutCpuMs += cpuMs(server.pid) - cpuStart;
      await settle(1_000);
    }
    latencies.sort((a, b) => a - b);

    console.log(`\n## fleet: ${INSTANCES} simulated instances (${WORKERS} simulator processes) against one server on SQLite\n`);
    console.log(
      markdownTable(
        ['instances registered', 'time to all registered', 'server RSS before → after', 'per instance', 'config set → every instance: p50', 'p99', 'max', 'rounds'],
        [
          [
            `${registered} / ${INSTANCES}`,
            `${(registrationMs / 1000).toFixed(1)} s (${Math.round(registered / (registrationMs / 1000))}/s)`,
            `${(rssBefore / 1024).toFixed(0)} → ${(rssAfter / 1024).toFixed(0)} MiB`,
            `${kibPer.toFixed(1)} KiB`,
            fmtMs(quantile(latencies, 0.5)),
            fmtMs(quantile(latencies, 0.99)),
            fmtMs(latencies.at(-1)),
            `${ROUNDS} (notified ${notified.join(', ')}; ${missing} receipts missing)`,
          ],
        ],
      ),
    );
    console.log(
      `server CPU: ${(registrationCpuMs / 1000).toFixed(1)} s to register (${((registrationCpuMs * 1000) / Math.max(1, registered)).toFixed(0)} µs per instance), ` +
        `${(fanOutCpuMs / ROUNDS).toFixed(0)} ms per config set fan-out, ${(idleCpuShare * 100).toFixed(0)} % of a core idle; ` +
        `simulator CPU while registering: ${(simulatorCpuMs / 1000).toFixed(1)} s`,
    );
    for (const [what, n] of failures) console.log(`registration failures: ${n} × ${what}`);
    const verdict = (ok) => (ok ? 'ok' : 'FAIL');
    console.log(`budget: ${BUDGET.instances} instances on this machine: ${verdict(registered >= BUDGET.instances)}`);
    console.log(`budget: fan-out p99 ≤ ${BUDGET.p99Ms} ms: ${verdict(quantile(latencies, 0.99) <= BUDGET.p99Ms && missing === 0)}`);
    console.log(`budget: ≤ ${BUDGET.kibPerInstance} KiB RSS per idle instance: ${verdict(kibPer <= BUDGET.kibPerInstance)}`);
  } finally {
    for (const w of workers) w.kill('SIGKILL');
    control.close();
    server.stop();
  }
}

main().catch((err) => {
  console.error(`bench fleet: ${err.message}`);
  process.exit(1);
});
