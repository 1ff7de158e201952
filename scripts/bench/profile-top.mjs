// The top frames of V8 CPU profiles (node --cpu-prof), by self time and by total time:
//   node scripts/bench/profile-top.mjs [--top N] FILE.cpuprofile...
// Several files of one process (runs) add up. Used with data-path.mjs's BENCH_CPU_PROF.
// --phases FILE.json --phase NAME: only the samples within that phase's windows ([start, end] in
// µs of the monotonic clock that V8 stamps samples with, process.hrtime here), as fleet.mjs
// writes them (registration, fanout).
import { readFileSync } from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
let top = 25;
const at = args.indexOf('--top');
if (at >= 0) {
  top = Number(args[at + 1]);
  args.splice(at, 2);
}
function option(name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  const [, value] = args.splice(i, 2);
  return value;
}
const phasesFile = option('--phases');
const phase = option('--phase');
const windows = phasesFile ? JSON.parse(readFileSync(phasesFile, 'utf8'))[phase] : undefined;
if (phasesFile && !windows) {
  process.stderr.write(`no phase ${JSON.stringify(phase)} in ${phasesFile}\n`);
  process.exit(2);
}
const within = (t) => !windows || windows.some(([a, b]) => t >= a && t <= b);
if (args.length === 0) {
  process.stderr.write('usage: node scripts/bench/profile-top.mjs [--top N] [--phases FILE.json --phase NAME] FILE.cpuprofile...\n');
  process.exit(2);
}

const self = new Map();
const total = new Map();
let allMs = 0;

function frameName(cf) {
  const file = cf.url ? path.basename(cf.url.replace(/^file:\/\//, '')) : '';
  return `${cf.functionName || '(anonymous)'} ${file}${file ? `:${cf.lineNumber + 1}` : ''}`;
}

for (const file of args) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Sample intervals, attributed to the sampled node (its self time).
  const ms = new Map();
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (!within(at)) continue;
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    ms.set(profile.samples[i], (ms.get(profile.samples[i]) ?? 0) + dt);
  }
  for (const [id, t] of ms) {
    const node = byId.get(id);
    const name = frameName(node.callFrame);
    if (name.startsWith('(idle)')) continue;
    allMs += t;
    self.set(name, (self.get(name) ?? 0) + t);
    // Total: once per distinct frame name on the stack (recursion counts once).
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const n = frameName(byId.get(cur).callFrame);
      if (seen.has(n)) continue;
      seen.add(n);
      total.set(n, (total.get(n) ?? 0) + t);
    }
  }
}

const print = (title, map) => {
  process.stdout.write(`\n${title} (of ${allMs.toFixed(0)} ms busy)\n`);
  const rows = [...map].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [name, t] of rows) process.stdout.write(`${t.toFixed(0).padStart(7)} ms ${((100 * t) / allMs).toFixed(1).padStart(5)} %  ${name}\n`);
};
print('self time', self);
print('total time', total);
