// `npm run bench`: start-up cost of the supervisor in disabled mode (no server), against plain
// `node -e 0` and tini, all timed in one round-robin run. DESIGN.md section 7 budget:
//   binary `true` <= 1.3 x `node -e 0`.
// BENCH_RUNS (default 50): timed runs per command. BENCH_ENFORCE=1: exit 1 when over budget.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { envInt, fileSizeMiB, fmtMs, markdownTable, median, quantile, ROOT, timeRoundRobin, which } from './lib.mjs';

const BUDGET_RATIO = 1.3;
const BINARY = path.join(ROOT, 'dist/waypoint-entrypoint');
const BUNDLE = path.join(ROOT, 'dist/entrypoint.cjs');
const LAUNCHER = path.join(ROOT, 'bin/waypoint-entrypoint');

/** Disabled mode, with nothing of the developer's WAYPOINT_* (or NODE_OPTIONS) leaking in. */
function benchEnv() {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', WAYPOINT_CEB_DISABLE: '1' };
}

/**
 * The start-up cases. One whose program is missing is left out with the reason in `skipped`
 * (never fatal: the other rows still mean something).
 */
function startupCases() {
  const node = process.execPath;
  const tini = which('tini');
  const candidates = [
    { name: '`node -e 0`', argv: [node, '-e', '0'], baseline: true },
    { name: '`tini -- true`', argv: [tini, '--', 'true'], absent: !tini && 'tini is not installed (Debian: apt-get install -y tini)' },
    { name: '`bin/waypoint-entrypoint true` (bundle via launcher)', argv: [LAUNCHER, 'true'], needs: [LAUNCHER, BUNDLE] },
    { name: '`node dist/entrypoint.cjs true`', argv: [node, BUNDLE, 'true'], needs: [BUNDLE] },
    { name: '`dist/waypoint-entrypoint true` (binary)', argv: [BINARY, 'true'], needs: [BINARY], budget: true },
  ];
  const cases = [];
  const skipped = [];
  for (const c of candidates) {
    const missingFile = c.needs?.find((f) => !existsSync(f));
    const why = c.absent || (missingFile && `${path.relative(ROOT, missingFile)} is missing (npm run build, npm run build:binary)`);
    if (why) skipped.push(`${c.name}: skipped, ${why}`);
    else cases.push({ ...c, env: benchEnv() });
  }
  return { cases, skipped };
}

function baselineMedian(cases, samples) {
  return median(samples.get(cases.find((c) => c.baseline).name));
}

function resultsTable(cases, samples) {
  const base = baselineMedian(cases, samples);
  const rows = cases.map((c) => {
    const s = samples.get(c.name);
    return [c.name, fmtMs(median(s)), fmtMs(quantile(s, 0.9)), `${(median(s) / base).toFixed(2)}×`];
  });
  return markdownTable(['command', 'median ms', 'p90 ms', 'ratio to `node -e 0`'], rows);
}

/** The section 7 budget line, and whether it holds (undefined: not measured). */
function budget(cases, samples) {
  const what = `budget: binary \`true\` ≤ ${BUDGET_RATIO} × \`node -e 0\``;
  const binary = cases.find((c) => c.budget);
  if (!binary) return { line: `${what}: NOT MEASURED (no binary: npm run build:binary)`, ok: undefined };
  const base = baselineMedian(cases, samples);
  const ratio = median(samples.get(binary.name)) / base;
  const ok = ratio <= BUDGET_RATIO;
  const limit = `${fmtMs(median(samples.get(binary.name)))} ms vs ${fmtMs(base * BUDGET_RATIO)} ms allowed`;
  return { line: `${what}: ${ratio.toFixed(2)}× (${limit}) → ${ok ? 'PASS' : 'FAIL'}`, ok };
}

function binarySizeLine() {
  if (!existsSync(BINARY)) return undefined;
  const mib = fileSizeMiB(BINARY);
  return `binary size: ${mib.toFixed(1)} MiB (${((mib * 1024 * 1024) / 1e6).toFixed(1)} MB), dist/waypoint-entrypoint`;
}

function main() {
  const runs = envInt('BENCH_RUNS', 50);
  const { cases, skipped } = startupCases();
  const out = (line = '') => process.stdout.write(`${line}\n`);
  out(`## start-up, disabled mode (${runs} runs each, round-robin, Node ${process.version})`);
  out();
  const samples = timeRoundRobin(cases, runs);
  out(resultsTable(cases, samples));
  out();
  for (const line of skipped) out(`- ${line}`);
  if (skipped.length) out();
  const { line, ok } = budget(cases, samples);
  out(line);
  const size = binarySizeLine();
  if (size) out(size);
  if (process.env.BENCH_ENFORCE === '1' && ok !== true) process.exitCode = 1;
}

try {
  main();
} catch (err) {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
}
