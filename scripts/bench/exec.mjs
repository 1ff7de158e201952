// `npm run bench` (fourth part): exec through the reference server into a live instance (the
// single binary in front of an idle app), on loopback.
//   - round trip of `true`: from the operator's first message to the exit code, on a warm
//     channel (a gRPC client in this process, as a long-lived operator tool would hold one), and
//     the whole `waypoint-ctl exec -T -- true` process for reference (Node start-up included).
//     DESIGN.md section 7 budget: warm round trip <= 100 ms.
//   - throughput: `cat` of BENCH_EXEC_MB (default 100) MB through a non-TTY session
//     (ctl stdin → server → entrypoint → cat → back → ctl stdout), beside `cat | cat` through a
//     local pipe in the same run.
// BENCH_EXEC_RUNS (default 20): round trips per case; the throughput cases run 3 times.
// BENCH_ENFORCE=1: exit 1 when over budget.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, envInt, fmtMs, markdownTable, median, quantile, referenceServer, ROOT, stopEntrypoint } from './lib.mjs';

const require = createRequire(import.meta.url);
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const BINARY = path.join(ROOT, 'dist/waypoint-entrypoint');
const CTL = path.join(ROOT, 'bin/waypoint-ctl');
const BUDGET_MS = 100;
const APP = ['sh', '-c', 'echo ready; while :; do sleep 1; done'];

const now = () => performance.now();

function controlClient(addr) {
  const definition = protoLoader.loadSync('waypoint_entrypoint/control/v1/control.proto', {
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
    oneofs: true,
    includeDirs: [path.join(ROOT, 'proto'), path.dirname(require.resolve('protobufjs/package.json'))],
  });
  const { Control } = grpc.loadPackageDefinition(definition).waypoint_entrypoint.control.v1;
  return new Control(addr, grpc.credentials.createInsecure());
}

/** One Exec call of `args` on the warm client; resolves with ms from start to exit code. */
function warmRoundTrip(client, metadata, args) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const call = client.Exec(metadata);
    call.on('data', (m) => {
      if (m.event === 'exit_code') {
        const ms = now() - t0;
        call.end();
        if (m.exit_code !== 0) reject(new Error(`exec ${args.join(' ')} exited ${m.exit_code}`));
        else resolve(ms);
      } else if (m.event === 'error') reject(new Error(`exec failed: ${m.error.message}`));
    });
    call.on('error', reject);
    call.write({ start: { app: 'bench', args } });
    call.write({ input_eof: {} });
  });
}

/** Runs a process to completion; resolves with its wall time in ms, rejects on failure. */
function timeProcess(argv, { env, stdinFile } = {}) {
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(argv[0], argv.slice(1), { env, stdio: [stdinFile ? 'pipe' : 'ignore', 'ignore', 'pipe'] });
    if (stdinFile) createReadStream(stdinFile).pipe(child.stdin);
    let err = '';
    child.stderr.on('data', (c) => (err += c));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code !== 0) reject(new Error(`${argv.join(' ')} exited ${signal ?? code}: ${err.trim()}`));
      else resolve(now() - t0);
    });
  });
}

async function samples(runs, once) {
  await once(); // warm-up
  const list = [];
  for (let i = 0; i < runs; i++) list.push(await once());
  return list.sort((a, b) => a - b);
}

/** Starts the binary in front of the idle app; resolves when the server lists the instance. */
async function startInstance(server) {
  const child = spawn(BINARY, APP, { env: cleanEnv({ ...server.env, WAYPOINT_CEB_STOP_TIMEOUT: '1s' }), stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    child.stdout.once('data', resolve);
    child.once('exit', (code) => reject(new Error(`the entrypoint exited ${code} before its app started`)));
  });
  return child;
}

async function waitForInstance(client, metadata) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const list = await new Promise((resolve, reject) =>
      client.ListInstances({ app: 'bench' }, metadata, (err, res) => (err ? reject(err) : resolve(res.instances))),
    );
    if (list.length > 0) return;
    if (Date.now() > deadline) throw new Error('the instance did not register within 10 s');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main() {
  const runs = envInt('BENCH_EXEC_RUNS', 20);
  const mb = envInt('BENCH_EXEC_MB', 100);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  const missing = [BINARY, CTL].filter((f) => !existsSync(f));
  if (missing.length) throw new Error(`missing ${missing.map((f) => path.relative(ROOT, f)).join(', ')} (npm run build, npm run build:binary)`);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-exec-'));
  const server = await referenceServer();
  const client = controlClient(server.addr);
  const metadata = new grpc.Metadata();
  metadata.set('authorization', server.operatorToken);
  metadata.set('client-api-protocol', '1,1');
  metadata.set('client-version', 'bench');
  let entrypoint;
  const rows = [];
  const mbRows = [];
  let warmMs;
  try {
    entrypoint = await startInstance(server);
    await waitForInstance(client, metadata);
    const ctlEnv = server.ctlEnv;

    const warm = await samples(runs, () => warmRoundTrip(client, metadata, ['true']));
    warmMs = median(warm);
    rows.push(['`true`, warm gRPC client', String(runs), fmtMs(warmMs), fmtMs(quantile(warm, 0.9)), fmtMs(warm[0]), fmtMs(warm.at(-1))]);
    const cold = await samples(runs, () => timeProcess([CTL, 'exec', '--app', 'bench', '-T', '--', 'true'], { env: ctlEnv }));
    rows.push(['`waypoint-ctl exec -T -- true` (whole process)', String(runs), fmtMs(median(cold)), fmtMs(quantile(cold, 0.9)), fmtMs(cold[0]), fmtMs(cold.at(-1))]);
    const node = await samples(runs, () => timeProcess([process.execPath, '-e', '0']));
    rows.push(['`node -e 0` (reference)', String(runs), fmtMs(median(node)), fmtMs(quantile(node, 0.9)), fmtMs(node[0]), fmtMs(node.at(-1))]);

    // Incompressible-ish bytes, so that nothing on the way can shortcut them.
    const file = path.join(dir, 'payload');
    const chunk = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
    writeFileSync(file, Buffer.concat(Array.from({ length: mb }, () => chunk)));
    const local = await samples(3, () => timeProcess(['sh', '-c', `cat "${file}" | cat > /dev/null`]));
    const remote = await samples(3, () => timeProcess([CTL, 'exec', '--app', 'bench', '-T', '--', 'cat'], { env: ctlEnv, stdinFile: file }));
    const rate = (ms) => (mb / (ms / 1000)).toFixed(0);
    mbRows.push([`\`cat \\| cat\`, local pipe`, fmtMs(median(local)), rate(median(local)), '1.00×']);
    mbRows.push([`\`waypoint-ctl exec -T -- cat\``, fmtMs(median(remote)), rate(median(remote)), `${(median(remote) / median(local)).toFixed(1)}×`]);
  } finally {
    client.close();
    await stopEntrypoint(entrypoint);
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  out(`## exec round trip, loopback (Node ${process.version})`);
  out();
  out(markdownTable(['case', 'runs', 'median ms', 'p90 ms', 'min ms', 'max ms'], rows));
  out();
  out(`## exec throughput: ${mb} MB through \`cat\` (median of 3)`);
  out();
  out(markdownTable(['case', 'ms', 'MB/s', 'time vs local'], mbRows));
  out();
  const ok = warmMs <= BUDGET_MS;
  out(`budget: exec \`true\` round trip on a warm client ≤ ${BUDGET_MS} ms: ${fmtMs(warmMs)} ms → ${ok ? 'PASS' : 'FAIL'}`);
  if (process.env.BENCH_ENFORCE === '1' && !ok) process.exitCode = 1;
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
