// Start-up against the runtime's floor (issue 17: the binary running `true` in disabled mode as
// fast as its own runtime's `node -e 0`). Built with the pinned Node, then timed interleaved,
// wall and CPU time per run (scripts/bench/rusage.py: wait4's rusage; Node cannot give it):
//   - the runtime's `node -e 0`, the budget's baseline;
//   - an empty single executable (the same Node, a main that does nothing, its code cache);
//   - the floor: a single executable doing only what running `true` under a supervisor built
//     like ours needs (scripts/bench/startup-floor-main.cjs: the addon, the signal listeners,
//     posix_spawn, waitid), none of our program;
//   - dist/release's x64 binary running `true` (`npm run release`), and any other binary given
//     as BENCH_BINARIES=label=path,... (e.g. one of an older tree, for an A/B).
// BENCH_RUNS (default 40) timed rounds, after 2 untimed ones.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { nodeRuntime, PINNED } from '../release/node-runtime.mjs';
import { cleanEnv, dropPageCache, envInt, fmtMs, markdownTable, median, quantile, ROOT, which } from './lib.mjs';

const RELEASE = path.join(ROOT, 'dist/release/waypoint-entrypoint-linux-x64');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const ENV = cleanEnv({ WAYPOINT_CEB_DISABLE: '1' });

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}\n${r.stderr ?? ''}`);
  return r;
}

/** A single executable of `node` with `main` (and `assets`), as build-binary makes ours. */
function sea(node, dir, name, main, assets = {}) {
  const blob = path.join(dir, `${name}.blob`);
  const config = path.join(dir, `${name}.json`);
  writeFileSync(config, JSON.stringify({ main, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }));
  run(node, ['--experimental-sea-config', config], { cwd: dir });
  const binary = path.join(dir, name);
  copyFileSync(node, binary);
  chmodSync(binary, 0o755);
  run('strip', [binary]);
  const postject = path.join(path.dirname(createRequire(import.meta.url).resolve('postject/package.json')), 'dist/cli.js');
  run(process.execPath, [postject, binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE]);
  return binary;
}

/** The floor's posix.node: this machine's build of native/posix.c (the release's is the same code). */
function posixAddon() {
  const local = path.join(ROOT, 'native/build/Release/posix.node');
  if (!existsSync(local)) throw new Error('native/build/Release/posix.node is missing: run `npm run build:native`');
  return local;
}

function extraBinaries() {
  return (process.env.BENCH_BINARIES ?? '')
    .split(',')
    .filter(Boolean)
    .map((spec) => {
      const [label, file] = spec.split('=');
      if (!file || !existsSync(file)) throw new Error(`BENCH_BINARIES: ${spec} is not label=path of an existing binary`);
      return { label, argv: [path.resolve(file), 'true'] };
    });
}

async function main() {
  const runs = envInt('BENCH_RUNS', 40);
  const node = path.join(await nodeRuntime({ target: 'linux-x64', log: (m) => process.stderr.write(`bench: ${m}\n`) }), 'bin/node');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-startup-'));
  try {
    const empty = path.join(dir, 'empty.cjs');
    writeFileSync(empty, '');
    const trueBin = which('true');
    const cases = [
      { label: '`node -e 0`', argv: [node, '-e', '0'] },
      { label: 'empty single executable', argv: [sea(node, dir, 'empty', empty)] },
      {
        label: 'floor: addon, signals, spawn, wait',
        argv: [sea(node, dir, 'floor', path.join(ROOT, 'scripts/bench/startup-floor-main.cjs'), { 'posix.node': posixAddon() }), trueBin],
      },
      ...(existsSync(RELEASE) ? [{ label: 'release binary `true`', argv: [RELEASE, 'true'] }] : []),
      ...extraBinaries(),
    ];
    // Read back from disk, not timed in the large folios of a fresh write (docs/release.md).
    for (const c of cases) dropPageCache(c.argv[0]);
    const spec = path.join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify(cases.map((c) => ({ ...c, env: ENV }))));
    const r = run('python3', [path.join(ROOT, 'scripts/bench/rusage.py'), String(runs), '2', spec], { maxBuffer: 16 << 20 });
    const samples = JSON.parse(r.stdout);
    const sorted = (label, key) => [...samples[label][key]].sort((a, b) => a - b);
    const base = { wall: median(sorted(cases[0].label, 'wall')), cpu: median(sorted(cases[0].label, 'cpu')) };
    const rows = cases.map(({ label }) => {
      const wall = sorted(label, 'wall');
      const cpu = median(sorted(label, 'cpu'));
      return [label, fmtMs(median(wall)), fmtMs(quantile(wall, 0.9)), `${(median(wall) / base.wall).toFixed(3)}×`, fmtMs(cpu), `${(cpu / base.cpu).toFixed(3)}×`];
    });
    process.stdout.write(`## start-up against the runtime's floor (${runs} interleaved runs each, Node ${PINNED.version}, load ${os.loadavg()[0].toFixed(1)})\n\n`);
    process.stdout.write(`${markdownTable(['command', 'wall median ms', 'wall p90 ms', 'wall ratio', 'CPU median ms', 'CPU ratio'], rows)}\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
