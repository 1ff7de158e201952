// Idle RSS of several entrypoint binaries (or one binary under several environments) side by
// side: each connected to one reference server, in front of `sleep`, BENCH_IDLE_N instances of
// each (default 3) started interleaved, read after BENCH_IDLE_SETTLE seconds (default 25); the
// median of each case is printed. Differences under ~0.5 MiB are noise (A/A runs differ by 0.3).
//
//   node scripts/bench/idle-compare.mjs LABEL=BINARY[@ENV_JSON] ...
//   e.g. base=/tmp/old new=dist/release/waypoint-entrypoint-linux-x64 \
//        'nojit=dist/release/waypoint-entrypoint-linux-x64@{"WPCEB_NODEOP":"--jitless"}'
// ENV_JSON {"DISABLED":"1"} runs that case in disabled mode.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanEnv, dropPageCache, envInt, markdownTable, median, referenceServer, ROOT, stopEntrypoint } from './lib.mjs';

const CTL = path.join(ROOT, 'bin/waypoint-ctl');
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const statusMiB = (pid, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

function parseCase(arg) {
  const m = /^([^=]+)=([^@]+)(?:@(.*))?$/s.exec(arg);
  if (!m) throw new Error(`expected LABEL=BINARY[@ENV_JSON], got ${JSON.stringify(arg)}`);
  return { label: m[1], binary: path.resolve(m[2]), env: m[3] ? JSON.parse(m[3]) : {}, children: [] };
}

async function main() {
  const cases = process.argv.slice(2).map(parseCase);
  if (cases.length === 0) throw new Error('usage: idle-compare.mjs LABEL=BINARY[@ENV_JSON] ...');
  const n = envInt('BENCH_IDLE_N', 3);
  const settleS = envInt('BENCH_IDLE_SETTLE', 25);
  const server = await referenceServer();
  try {
    for (const c of new Set(cases.map((x) => x.binary))) dropPageCache(c);
    for (let i = 0; i < n; i++) {
      for (const c of cases) {
        const { DISABLED, ...extra } = c.env;
        const env = cleanEnv({ ...(DISABLED ? { WAYPOINT_CEB_DISABLE: '1' } : server.env), ...extra });
        c.children.push(spawn(c.binary, ['sleep', String(settleS + 120)], { env, stdio: 'ignore' }));
        await sleep(300); // start-ups apart: their peaks do not overlap
      }
    }
    await sleep(settleS * 1000);
    const connected = cases.filter((c) => !c.env.DISABLED).length * n;
    const served = spawnSync(CTL, ['url', '--app', 'bench', '--json'], { env: server.ctlEnv, encoding: 'utf8' });
    const instances = served.status === 0 ? Math.max(0, ...JSON.parse(served.stdout).map((u) => u.instances)) : 0;
    if (instances < connected) throw new Error(`only ${instances} of ${connected} connected instances registered their tunnel: an unconnected one idles cheaper`);
    const rows = cases.map((c) => {
      for (const child of c.children) if (child.exitCode !== null) throw new Error(`${c.label}: an entrypoint exited early (${child.exitCode})`);
      const med = (key) => median(c.children.map((child) => statusMiB(child.pid, key)).sort((a, b) => a - b)).toFixed(1);
      const all = (key) => c.children.map((child) => statusMiB(child.pid, key).toFixed(1)).join(' ');
      return [c.label, med('VmRSS'), med('RssAnon'), med('RssFile'), all('RssAnon')];
    });
    process.stdout.write(`## idle, ${n} instances each, after ${settleS} s (medians, MiB)\n\n`);
    process.stdout.write(`${markdownTable(['case', 'RSS', 'RssAnon', 'RssFile', 'each RssAnon'], rows)}\n`);
  } finally {
    await Promise.all(cases.flatMap((c) => c.children.map((child) => stopEntrypoint(child))));
    server.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
