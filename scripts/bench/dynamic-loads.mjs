// What dynamic config (issue 15) adds to a run, by mode: the bundle (dist/entrypoint.cjs) runs
// `true` with a recorder preloaded (test/fixtures/record-modules.cjs) and lists the chunks it
// read and the built-in modules it loaded beyond disabled mode's, with the bytes of those
// chunks. Disabled and static-only runs must read no dynamic code (dist/dynamic.cjs, a source's
// dist/source-<type>.cjs); a config with a dynamic var reads dynamic.cjs, plus the chunk of its
// own source type and no other. Against the reference server on loopback; the vault and aws-ssm
// sources point at a closed port (their vars fail, their chunks are what is counted). Timings
// of the same modes: scripts/bench/connect.mjs (disabled, server up, a dynamic null var).
// BENCH_ROOTS=a:b:... (trees with their bundles built, e.g. a commit before dynamic config and
// one after): each one's dist/entrypoint.cjs is also timed, runs interleaved, from spawn to the
// app's own start (`date +%s%N`), and in CPU time of a whole run (rusage.py: user + sys, which
// the machine's load changes less), disabled and with a static-only config from the server;
// BENCH_RUNS (default 40) runs of each.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, envInt, fmtMs, markdownTable, median, quantile, referenceServer, ROOT } from './lib.mjs';

const BUNDLE = path.join(ROOT, 'dist/entrypoint.cjs');
const CTL = path.join(ROOT, 'bin/waypoint-ctl');
const RECORDER = path.join(ROOT, 'test/fixtures/record-modules.cjs');

function exec(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${path.basename(cmd)} ${args.join(' ')} exited ${code}: ${out}${err}`))));
  });
}

/** An app of the server with `setup` ctl calls: the env of an instance of it. */
async function app(server, name, setup) {
  const ctl = (args) => exec(CTL, args, server.ctlEnv);
  for (const args of setup) await ctl(args);
  return JSON.parse(await ctl(['deployment', 'create', name, '--json'])).env;
}

async function loaded(dir, name, env) {
  const out = path.join(dir, `${name}.json`);
  await exec(process.execPath, [`--require=${RECORDER}`, BUNDLE, 'true'], cleanEnv({ RECORD_MODULES_TO: out, WAYPOINT_CEB_CONNECT_TIMEOUT: '5s', ...env }));
  const { builtins, files } = JSON.parse(readFileSync(out, 'utf8'));
  const chunks = files.filter((f) => f.startsWith(path.join(ROOT, 'dist') + path.sep) && f.endsWith('.cjs')).map((f) => path.relative(path.join(ROOT, 'dist'), f));
  return { builtins, chunks };
}

/** ms from spawning `bundle` to its app's own start. */
function startLatency(bundle, env) {
  const now = () => performance.timeOrigin + performance.now();
  return new Promise((resolve, reject) => {
    const t0 = now();
    const child = spawn(process.execPath, [bundle, 'sh', '-c', 'date +%s%N'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', () => {});
    child.on('close', (code) => {
      const m = /^(\d+)\s*$/m.exec(out);
      if (code !== 0 || !m) return reject(new Error(`${bundle} exited ${code}: ${out}`));
      resolve(Number(BigInt(m[1]) / 1000n) / 1000 - t0);
    });
  });
}

/** The bundles of BENCH_ROOTS timed interleaved in disabled and static-only modes. */
async function compareRoots(roots, staticEnv) {
  const runs = envInt('BENCH_RUNS', 40);
  const rows = [];
  for (const [mode, env] of [
    ['disabled', cleanEnv({ WAYPOINT_CEB_DISABLE: '1' })],
    ['static-only config', cleanEnv({ ...staticEnv, WAYPOINT_CEB_CONNECT_TIMEOUT: '5s' })],
  ]) {
    const bundles = roots.map((r) => path.join(path.resolve(r), 'dist/entrypoint.cjs'));
    for (const b of bundles) await startLatency(b, env); // warm-up
    const samples = bundles.map(() => []);
    for (let i = 0; i < runs; i++) for (const [j, b] of bundles.entries()) samples[j].push(await startLatency(b, env));
    // CPU time of whole runs (`true` as the app): what the machine's load does not change
    const spec = path.join(os.tmpdir(), `wp-bench-loads-${process.pid}.json`);
    writeFileSync(spec, JSON.stringify(bundles.map((b, j) => ({ label: String(j), argv: [process.execPath, b, 'true'], env }))));
    let cpu;
    try {
      // Not spawnSync: our event loop must go on reading the server's output, or its pipe fills
      // and the server stalls
      cpu = JSON.parse(await exec('python3', [path.join(ROOT, 'scripts/bench/rusage.py'), String(runs), '2', spec], process.env));
    } finally {
      rmSync(spec, { force: true });
    }
    for (const [j, root] of roots.entries()) {
      const s = samples[j].sort((a, b) => a - b);
      const c = cpu[String(j)].cpu.sort((a, b) => a - b);
      rows.push([mode, root, String(runs), fmtMs(median(s)), fmtMs(quantile(s, 0.9)), fmtMs(s[0]), fmtMs(median(c)), fmtMs(c[0])]);
    }
  }
  const header = ['mode', 'tree', 'runs', 'median ms to app start', 'p90', 'min', 'median CPU ms of a run', 'min CPU'];
  process.stdout.write(`\n## start-up, bundles of BENCH_ROOTS interleaved\n\n${markdownTable(header, rows)}\n`);
}

async function main() {
  const server = await referenceServer();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-loads-'));
  try {
    const modes = [
      ['disabled', { WAYPOINT_CEB_DISABLE: '1' }],
      ['static-only config', await app(server, 'loads-static', [['config', 'set', '--app', 'loads-static', 'A=a']])],
      ['a dynamic null var', await app(server, 'loads-null', [['config', 'set', '--app', 'loads-null', '--dynamic', 'null', 'A', 'static_value=a']])],
      [
        'a dynamic vault var',
        await app(server, 'loads-vault', [
          ['config', 'source', 'set', '--app', 'loads-vault', 'vault', 'addr=http://127.0.0.1:1', 'token=t'],
          ['config', 'set', '--app', 'loads-vault', '--dynamic', 'vault', 'A', 'path=kv/a', 'key=a'],
        ]),
      ],
      [
        'a dynamic aws-ssm var',
        await app(server, 'loads-ssm', [
          ['config', 'source', 'set', '--app', 'loads-ssm', 'aws-ssm', 'endpoint=http://127.0.0.1:1', 'region=us-east-1', 'access_key=AKIDBENCH', 'secret_key=s', 'max_retries=0'],
          ['config', 'set', '--app', 'loads-ssm', '--dynamic', 'aws-ssm', 'A', 'path=/a'],
        ]),
      ],
    ];
    const rows = [];
    let base;
    for (const [name, env] of modes) {
      const { builtins, chunks } = await loaded(dir, name.replace(/\W+/g, '-'), env);
      base ??= new Set(builtins);
      const extra = builtins.filter((b) => !base.has(b) && !b.startsWith('internal/'));
      const bytes = chunks.reduce((n, c) => n + statSync(path.join(ROOT, 'dist', c)).size, 0);
      rows.push([name, chunks.join(', '), `${(bytes / 1024).toFixed(1)}`, String(builtins.length), extra.join(', ') || '—']);
    }
    process.stdout.write(`## what each mode loads (bundle, Node ${process.version})\n\n`);
    process.stdout.write(
      `${markdownTable(['mode', 'chunks read (dist/)', 'their KiB', 'built-ins loaded', 'public built-ins beyond disabled mode'], rows)}\n`,
    );
    const roots = process.env.BENCH_ROOTS?.split(':').filter(Boolean);
    if (roots?.length) await compareRoots(roots, modes[1][1]);
  } finally {
    server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
