// Forwarding between replicas, what it costs: two `server run` replicas on one throwaway
// PostgreSQL database (postgres.mjs), one instance (the entrypoint
// bundle in front of a small Node app) connected to B. Each case is measured straight at B and
// through A (forwarded to B), interleaved in one run:
//   - exec `true`, warm gRPC client: from the first message to the exit code (BENCH_REPLICA_RUNS,
//     default 20, per side);
//   - `waypoint-ctl exec -T -- cat` of BENCH_REPLICA_MB (default 100) MB, median of 3: MB/s;
//   - small GETs through the ingress: BENCH_REPLICA_REQUESTS (default 2000), 16 in flight, keep-alive;
//   - a download of BENCH_REPLICA_MB MB through the ingress, median of 3: MB/s.
//   node scripts/bench/replicas.mjs
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, controlClient, DOWNLOAD_APP_SOURCE, envInt, fmtMs, freePort, markdownTable, median, quantile, ROOT, stopEntrypoint, until } from './lib.mjs';
import { startPostgres } from './postgres.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');

const ENTRYPOINT = path.join(ROOT, 'bin/waypoint-entrypoint');
const CTL = path.join(ROOT, 'bin/waypoint-ctl');
const now = () => performance.now();

/** `server run` on the database; resolves with its addresses, the ctl's env, and its token. */
async function startReplica(dir, databaseUrl, operatorToken) {
  const env = cleanEnv({ XDG_CONFIG_HOME: path.join(dir, 'config') });
  const args = ['server', 'run', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data'), '--database', databaseUrl];
  const proc = spawn(CTL, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (c) => (out += c));
  proc.stderr.on('data', () => undefined);
  await until('the replica to listen', async () => /context \S+/.test(out) && (operatorToken !== undefined || /operator token \S+/.test(out)), { timeoutMs: 20_000 });
  // A start on existing state prints no token (only the first does); each writes its ctl context.
  const token = operatorToken ?? /operator token (\S+)/.exec(out)[1];
  return { proc, env, token, addr: /listening on (127\.0\.0\.1:\d+)/.exec(out)[1], httpPort: Number(/http listening on 127\.0\.0\.1:(\d+)/.exec(out)[1]) };
}

function run(argv, env, stdinFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: [stdinFile ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin);
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.slice(1, 3).join(' ')} exited ${code}: ${err.trim()}`))));
  });
}

/** Exec `true` on a warm client; ms from the start message to the exit code. */
function execTrue(client, metadata) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const call = client.makeBidiStreamRequest('/waypoint_entrypoint.control.v1.Control/Exec', (b) => b, (b) => b, metadata);
    call.on('data', (buf) => {
      // ExecResponse.exit_code (field 3, varint): tag 0x18.
      if (buf[0] === 0x18) {
        const ms = now() - t0;
        call.end();
        resolve(ms);
      }
    });
    call.on('error', reject);
    // ExecRequest{start{app "bench", args ["true"]}} then {input_eof {}}, encoded by hand.
    const start = Buffer.concat([Buffer.from([0x0a, 0x05]), Buffer.from('bench'), Buffer.from([0x1a, 0x04]), Buffer.from('true')]);
    call.write(Buffer.concat([Buffer.from([0x0a, start.length]), start]));
    call.write(Buffer.from([0x1a, 0x00]));
  });
}

function get(agent, port, host) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    http
      .get({ host: '127.0.0.1', port, path: '/small', agent, headers: { host } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`GET ${host}: ${res.statusCode}`));
        res.on('data', () => undefined);
        res.on('end', () => resolve(now() - t0));
      })
      .on('error', reject);
  });
}

async function load(port, host, total, concurrency) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies = [];
  let next = 0;
  const t0 = now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        latencies.push(await get(agent, port, host));
      }
    }),
  );
  const ms = now() - t0;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return { rps: total / (ms / 1000), p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

function download(port, host, bytes) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    let got = 0;
    http
      .get({ host: '127.0.0.1', port, path: `/download?bytes=${bytes}`, agent: false, headers: { host } }, (res) => {
        res.on('data', (c) => (got += c.length));
        res.on('end', () => (got === bytes ? resolve(now() - t0) : reject(new Error(`download ended after ${got} of ${bytes} bytes`))));
      })
      .on('error', reject);
  });
}

async function main() {
  const runs = envInt('BENCH_REPLICA_RUNS', 20);
  const mb = envInt('BENCH_REPLICA_MB', 100);
  const requests = envInt('BENCH_REPLICA_REQUESTS', 2000);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  for (const f of [ENTRYPOINT, CTL]) if (!existsSync(f)) throw new Error(`missing ${path.relative(ROOT, f)} (npm run build)`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-replicas-'));
  let cluster;
  const procs = [];
  let entrypoint;
  try {
    cluster = await startPostgres();
    const a = await startReplica(path.join(dir, 'a'), cluster.url);
    procs.push(a.proc);
    const b = await startReplica(path.join(dir, 'b'), cluster.url, a.token);
    procs.push(b.proc);
    const created = JSON.parse(await run([CTL, 'deployment', 'create', 'bench', '--json'], a.env));
    const appFile = path.join(dir, 'app.cjs');
    writeFileSync(appFile, DOWNLOAD_APP_SOURCE);
    entrypoint = spawn(ENTRYPOINT, [process.execPath, appFile], {
      env: cleanEnv({ ...created.env, WAYPOINT_SERVER_ADDR: b.addr, PORT: String(await freePort()), WAYPOINT_CEB_STOP_TIMEOUT: '1s' }),
      stdio: ['ignore', 'ignore', 'ignore'],
    });
    const viaA = controlClient(a.addr, a.token);
    await until('A to list the instance on B', async () => (await viaA.instances('bench')).length === 1, { timeoutMs: 20_000 });
    const sides = [
      { name: 'straight at B', replica: b },
      { name: 'through A (forwarded to B)', replica: a },
    ];
    for (const s of sides) {
      s.host = `bench.localhost:${s.replica.httpPort}`;
      await until(`the app through ${s.name}`, async () => (await get(false, s.replica.httpPort, s.host)) >= 0, { timeoutMs: 20_000 });
      s.client = new grpc.Client(s.replica.addr, grpc.credentials.createInsecure());
      s.metadata = new grpc.Metadata();
      s.metadata.set('authorization', a.token);
      s.metadata.set('client-api-protocol', '1,1');
      s.exec = [];
      s.cat = [];
      s.dl = [];
    }
    const file = path.join(dir, 'payload');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    writeFileSync(file, Buffer.concat(Array.from({ length: mb }, () => chunk)));

    for (const s of sides) await execTrue(s.client, s.metadata); // warm-up
    for (let i = 0; i < runs; i++) for (const s of sides) s.exec.push(await execTrue(s.client, s.metadata));
    for (let i = 0; i < 3; i++) {
      for (const s of sides) {
        const t0 = now();
        await run([CTL, 'exec', '--app', 'bench', '-T', '--', 'cat'], s.replica.env, file);
        s.cat.push(now() - t0);
      }
    }
    for (const s of sides) s.gets = await load(s.replica.httpPort, s.host, requests, 16);
    for (let i = 0; i < 3; i++) for (const s of sides) s.dl.push(await download(s.replica.httpPort, s.host, mb * 1024 * 1024));

    const rate = (ms) => (mb / (ms / 1000)).toFixed(0);
    out(`## Forwarding between replicas (two replicas on PostgreSQL ${cluster.url.split('@')[1]}, instance on B)`);
    out();
    out(
      markdownTable(
        ['path', `exec \`true\` warm p50 / p90 (${runs})`, `exec cat ${mb} MB`, `GETs/s (${requests}, 16 in flight)`, 'GET p50 / p99', `download ${mb} MB`],
        sides.map((s) => {
          const e = s.exec.sort((x, y) => x - y);
          const cat = median(s.cat.sort((x, y) => x - y));
          const dl = median(s.dl.sort((x, y) => x - y));
          return [
            s.name,
            `${fmtMs(median(e))} / ${fmtMs(quantile(e, 0.9))}`,
            `${rate(cat)} MB/s`,
            s.gets.rps.toFixed(0),
            `${fmtMs(s.gets.p50)} / ${fmtMs(s.gets.p99)}`,
            `${rate(dl)} MB/s`,
          ];
        }),
      ),
    );
    for (const s of sides) s.client.close();
  } finally {
    await stopEntrypoint(entrypoint);
    for (const p of procs) p.kill('SIGKILL');
    cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`replicas bench: ${err.message}\n`);
  process.exit(1);
});
