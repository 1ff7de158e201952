// `npm run bench` (fifth part): the URL service on loopback. A small Node HTTP app runs under
// the single binary, connected to the reference server; the same client reaches it directly
// (127.0.0.1:$PORT) and through the server's HTTP ingress and the instance's tunnel, in the
// same run, case after case:
//   - small GETs: BENCH_URL_REQUESTS (default 5000) with BENCH_URL_CONCURRENCY (default 16) in
//     flight, Node http with keep-alive (to the app, or to the ingress); requests/s, p50, p99;
//   - a download of BENCH_URL_MB (default 100) MB, median of BENCH_URL_DOWNLOADS (default 5),
//     the cases taking turns: MB/s. Issue 17's budget: ≥ 400 MB/s through the tunnel.
// The entrypoint is the x64 release binary when built (npm run release), else
// dist/waypoint-entrypoint; BENCH_BINARY=… for another.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, DOWNLOAD_APP_SOURCE, entrypointBinary, envInt, fmtMs, freePort, markdownTable, median, quantile, referenceServer, ROOT, stopEntrypoint, until } from './lib.mjs';

const BUDGET_DOWNLOAD_MBPS = 400;
const CTL = path.join(ROOT, 'bin/waypoint-ctl');

const now = () => performance.now();

/** One GET to completion with the agent; resolves with its latency in ms. */
function get(agent, port, host, pathname) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const req = http.get({ host: '127.0.0.1', port, path: pathname, agent, headers: { host } }, (res) => {
      if (res.statusCode !== 200) reject(new Error(`GET ${host}${pathname}: ${res.statusCode}`));
      res.on('data', () => undefined);
      res.on('end', () => resolve(now() - t0));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

/** `total` small GETs, `concurrency` in flight on one keep-alive agent: latencies and wall time. */
async function load(port, host, total, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  let next = 0;
  const t0 = now();
  const worker = async () => {
    while (next < total) {
      next++;
      latencies.push(await get(agent, port, host, '/small'));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = now() - t0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { rps: total / (ms / 1000), p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

/** One download of `bytes`; resolves with its wall time in ms. */
function download(port, host, bytes) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let got = 0;
    http
      .get({ host: '127.0.0.1', port, path: `/download?bytes=${bytes}`, agent: false, headers: { host } }, (res) => {
        res.on('data', (c) => (got += c.length));
        res.on('end', () => (got === bytes ? resolve(now() - t0) : reject(new Error(`download ended after ${got} of ${bytes} bytes`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** Waits until `check` resolves true (polled), or fails after 15 s. */
async function main() {
  const total = envInt('BENCH_URL_REQUESTS', 5000);
  const concurrency = envInt('BENCH_URL_CONCURRENCY', 16);
  const mb = envInt('BENCH_URL_MB', 100);
  const rounds = envInt('BENCH_URL_DOWNLOADS', 5);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const bin = entrypointBinary();
  const missing = [bin, CTL].filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`missing ${missing.map((f) => path.relative(ROOT, f)).join(', ')} (npm run build, npm run build:binary)`);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-url-'));
  const appFile = path.join(dir, 'app.cjs');
  writeFileSync(appFile, DOWNLOAD_APP_SOURCE);
  const server = await referenceServer();
  const appPort = await freePort();
  const ingressPort = Number(server.httpAddr.split(':').pop());
  let entrypoint;
  const gets = [];
  const downloads = [];
  let tunnelMBps = NaN;
  try {
    entrypoint = spawn(bin, [process.execPath, appFile], {
      env: cleanEnv({ ...server.env, PORT: String(appPort), WAYPOINT_CEB_STOP_TIMEOUT: '1s' }),
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    const cases = [
      { name: 'direct to the app', port: appPort, host: `127.0.0.1:${appPort}` },
      { name: 'through the tunnel', port: ingressPort, host: `bench.localhost:${ingressPort}` },
    ];
    await until('the app to answer', () => get(false, appPort, cases[0].host, '/small').then(() => true));
    await until('the tunnel to answer', () => get(false, ingressPort, cases[1].host, '/small').then(() => true));

    for (const c of cases) await load(c.port, c.host, Math.min(500, total), concurrency); // warm-up
    const results = new Map(cases.map((c) => [c.name, []]));
    for (const c of cases) results.get(c.name).push(await load(c.port, c.host, total, concurrency));
    for (const c of cases) {
      const [r] = results.get(c.name);
      gets.push([c.name, r.rps.toFixed(0), fmtMs(r.p50), fmtMs(r.p99)]);
    }

    const bytes = mb * 1024 * 1024;
    const times = new Map(cases.map((c) => [c.name, []]));
    for (let round = 0; round < rounds; round++) for (const c of cases) times.get(c.name).push(await download(c.port, c.host, bytes));
    const directMs = median(times.get(cases[0].name).sort((a, b) => a - b));
    for (const c of cases) {
      const ms = median(times.get(c.name).sort((a, b) => a - b));
      downloads.push([c.name, fmtMs(ms), (mb / (ms / 1000)).toFixed(0), `${(ms / directMs).toFixed(2)}×`]);
      if (c !== cases[0]) tunnelMBps = mb / (ms / 1000);
    }
  } finally {
    await stopEntrypoint(entrypoint);
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  out(`## URL service: small GETs, ${total} requests, ${concurrency} in flight, keep-alive (Node ${process.version})`);
  out();
  out(markdownTable(['case', 'requests/s', 'p50 ms', 'p99 ms'], gets));
  out();
  out(`## URL service: a ${mb} MB download (median of ${rounds})`);
  out();
  out(markdownTable(['case', 'ms', 'MB/s', 'time vs direct'], downloads));
  out();
  out(`budget (issue 17): a ${mb} MB download through the tunnel ≥ ${BUDGET_DOWNLOAD_MBPS} MB/s: ${tunnelMBps.toFixed(0)} MB/s → ${tunnelMBps >= BUDGET_DOWNLOAD_MBPS ? 'PASS' : 'FAIL'}`);
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
