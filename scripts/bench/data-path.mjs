// The exec and URL data paths, process by process (issue 17): wall time and MB/s, and the CPU
// time each process on the path spends per MB (its user + system time, which stays meaningful
// on a shared machine where wall time is noise).
//   - exec: `waypoint-ctl exec -T -- cat` of BENCH_PATH_MB (default 100) MB: the ctl, the
//     server, the entrypoint;
//   - URL: a download of as many MB through the ingress and the tunnel: the HTTP client (this
//     process), the server, the entrypoint; url-up: an upload of as many MB the other way.
// BENCH_ROOTS: colon-separated checkouts (each built: dist/, bin/) to compare, default this one;
// "floor" in the list is the same hops done by bare Node (floor-path.mjs): what this design can
// move on this machine at best;
// their runs interleave, round after round, so that both see the same noise; every round starts
// fresh processes. BENCH_PATH_RUNS (default 3): rounds. BENCH_PATH_CASES: any of "exec", "url", "url-up" (default: exec,url).
// BENCH_CPU_PROF=DIR: every Node process on the path (server, ctl, entrypoint run as
// `node dist/entrypoint.cjs`) writes a V8 CPU profile there; scripts/bench/profile-top.mjs reads them.
// BENCH_NODE_ARGS="--trace-gc ...": the same processes run on node with these flags; their
// output goes to server.out, entrypoint.out (and ctl.out) in BENCH_CPU_PROF or the temp dir.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { cleanEnv, DOWNLOAD_APP_SOURCE, envInt, freePort, markdownTable, median, processCpuMs, ROOT, until } from './lib.mjs';


/**
 * ms a live process's threads spent runnable but waiting for a core so far (schedstat's second
 * field): on a loaded machine, wall time that is the scheduler's, not the data path's.
 */
function queuedMs(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[1]);
    } catch {
      // a thread that ended meanwhile
    }
  }
  return ns / 1e6;
}

function waitFor(child, pattern, what) {
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 15 s: ${out}`)), 15_000);
    const check = (c) => {
      out += c;
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout.on('data', check);
    child.stderr?.on('data', check);
    child.once('exit', (code) => reject(new Error(`${what} exited ${code}: ${out}`)));
  });
}

function run(argv, env) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (out += c));
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${argv.join(' ')} exited ${code}: ${out}`))));
  });
}

/** A server, a deployment and one instance (the download app under the entrypoint) of one checkout. */
async function startStack(root, dir, profDir) {
  // Node takes --cpu-prof on its command line only (not in NODE_OPTIONS): profiled, each
  // process runs its bundle on node itself (the binary ignores NODE_OPTIONS anyway: it is the app's).
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const node = (name, bundle) =>
    profDir || extra.length
      ? [process.execPath, ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, name)}`] : []), ...extra, path.join(root, 'dist', bundle)]
      : undefined;
  const outDir = profDir ?? dir;
  mkdirSync(outDir, { recursive: true });
  const keep = (child, name) => extra.length && child.stdout.pipe(createWriteStream(path.join(outDir, `${name}.out`)));
  const ctl = node('ctl', 'ctl.cjs') ?? [path.join(root, 'bin/waypoint-ctl')];
  const env = cleanEnv({ XDG_CONFIG_HOME: path.join(dir, 'config') });
  const serverArgv = [...(node('server', 'ctl.cjs') ?? ctl), 'server', 'run', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', '--data-dir', path.join(dir, 'data')];
  const server = spawn(serverArgv[0], serverArgv.slice(1), {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  keep(server, 'server');
  const [, httpPort] = await waitFor(server, /http listening on 127\.0\.0\.1:(\d+)[^]*operator token \S+/, 'the server');
  const created = JSON.parse(await run([path.join(root, 'bin/waypoint-ctl'), 'deployment', 'create', 'bench', '--json'], env));
  const appFile = path.join(dir, 'app.cjs');
  writeFileSync(appFile, DOWNLOAD_APP_SOURCE);
  const appEnv = cleanEnv({ ...created.env, PORT: String(await freePort()), WAYPOINT_CEB_STOP_TIMEOUT: '1s' });
  const argv = [...(node('entrypoint', 'entrypoint.cjs') ?? [path.join(root, 'dist/waypoint-entrypoint')]), process.execPath, appFile];
  const entrypoint = spawn(argv[0], argv.slice(1), { env: appEnv, stdio: ['ignore', 'pipe', 'ignore'] });
  keep(entrypoint, 'entrypoint');
  await waitFor(entrypoint, /ready/, 'the instance');
  const exec = (cmd) => [...ctl, 'exec', '--app', 'bench', '-T', '--', ...cmd];
  const stack = { root, exec, env, server, entrypoint, httpPort: Number(httpPort) };
  await until('the tunnel to answer', () => download(stack, 16).then(() => true));
  return stack;
}

const FLOOR = path.join(ROOT, 'scripts/bench/floor-path.mjs');

/** The same hops by bare Node (floor-path.mjs): its server, its entrypoint with the app. */
async function startFloor(dir) {
  const env = cleanEnv({});
  const server = spawn(process.execPath, [FLOOR, 'server'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const [, h2Port, httpPort] = await waitFor(server, /h2=(\d+) http=(\d+)/, 'the floor server');
  const url = `http://127.0.0.1:${h2Port}`;
  const appFile = path.join(dir, 'app.cjs');
  writeFileSync(appFile, DOWNLOAD_APP_SOURCE);
  const appEnv = cleanEnv({ PORT: String(await freePort()) });
  const entrypoint = spawn(process.execPath, [FLOOR, 'entrypoint', url, '--', process.execPath, appFile], { env: appEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  await waitFor(entrypoint, /ready/, 'the floor entrypoint');
  const exec = (cmd) => [process.execPath, FLOOR, 'client', url, '--', ...cmd];
  const stack = { root: FLOOR, exec, env, server, entrypoint, httpPort: Number(httpPort) };
  await until('the floor to answer', () => download(stack, 16).then(() => true));
  return stack;
}

async function stopStack(stack) {
  for (const child of [stack.entrypoint, stack.server]) {
    if (child.exitCode !== null) continue;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM'); // a clean exit: the CPU profile is written then
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

function download(stack, bytes) {
  return new Promise((resolve, reject) => {
    let got = 0;
    http
      .get({ host: '127.0.0.1', port: stack.httpPort, path: `/download?bytes=${bytes}`, agent: false, headers: { host: `bench.localhost:${stack.httpPort}` } }, (res) => {
        if (res.statusCode !== 200) reject(new Error(`download: ${res.statusCode}`));
        res.on('data', (c) => (got += c.length));
        res.on('end', () => (got === bytes ? resolve() : reject(new Error(`download ended after ${got} of ${bytes} bytes`))));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** A POST of `chunk` `times` over, read to its end by the app; resolves once it says it got all. */
function upload(stack, chunk, times) {
  const bytes = chunk.length * times;
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: stack.httpPort, method: 'POST', path: '/upload', agent: false, headers: { host: `bench.localhost:${stack.httpPort}`, 'content-length': bytes } },
      (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => (Number(body) === bytes ? resolve() : reject(new Error(`upload: the app got ${body} of ${bytes} bytes (${res.statusCode})`))));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    let sent = 0;
    const pump = () => {
      while (sent < times) {
        sent++;
        if (!req.write(chunk)) return void req.once('drain', pump);
      }
      req.end();
    };
    pump();
  });
}

/**
 * The ctl through bash, whose `times` says the CPU time of its children (the ctl) on fd 3. Its
 * stdin is a pipe this process fills from the file, as in exec.mjs.
 */
function execCat(stack, file) {
  return new Promise((resolve, reject) => {
    const script = '"$@" > /dev/null; s=$?; times >&3; exit $s';
    const child = spawn('bash', ['-c', script, 'bash', ...stack.exec(['cat'])], {
      env: stack.env,
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    });
    createReadStream(file).pipe(child.stdin);
    let err = '';
    let times = '';
    child.stderr.on('data', (c) => (err += c));
    child.stdio[3].on('data', (c) => (times += c));
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`waypoint-ctl exec exited ${code}: ${err.trim()}`));
      // Second line: the children's user and system time, as "0m1.234s 0m0.056s".
      const secs = times.trim().split('\n')[1].split(/\s+/).map((t) => {
        const [, m, s] = /(\d+)m([\d.]+)s/.exec(t);
        return Number(m) * 60 + Number(s);
      });
      resolve({ clientMs: (secs[0] + secs[1]) * 1000 });
    });
  });
}

async function measure(stack, once) {
  const pids = { server: stack.server.pid, entrypoint: stack.entrypoint.pid };
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, processCpuMs(pid)]));
  const queuedBefore = Object.fromEntries(Object.entries({ ...pids, client: process.pid }).map(([k, pid]) => [k, queuedMs(pid)]));
  const self = process.cpuUsage();
  const t0 = performance.now();
  const r = (await once()) ?? {};
  const ms = performance.now() - t0;
  const used = process.cpuUsage(self);
  const queued = Object.entries(queuedBefore).reduce((sum, [k, ms]) => sum + queuedMs(k === 'client' ? process.pid : pids[k]) - ms, 0);
  return {
    ms,
    // exec: the ctl's (this process only feeds its stdin); url: this process's, the HTTP client.
    client: r.clientMs ?? (used.user + used.system) / 1000,
    server: processCpuMs(pids.server) - before.server,
    entrypoint: processCpuMs(pids.entrypoint) - before.entrypoint,
    queued,
  };
}

async function main() {
  const mb = envInt('BENCH_PATH_MB', 100);
  const runs = envInt('BENCH_PATH_RUNS', 3);
  const roots = (process.env.BENCH_ROOTS || ROOT).split(':').map((r) => (r === 'floor' ? FLOOR : path.resolve(r)));
  const cases = (process.env.BENCH_PATH_CASES || 'exec,url').split(',');
  const profDir = process.env.BENCH_CPU_PROF ? path.resolve(process.env.BENCH_CPU_PROF) : undefined;
  for (const root of roots) {
    if (root === FLOOR) continue;
    const missing = ['dist/waypoint-entrypoint', 'dist/entrypoint.cjs', 'bin/waypoint-ctl'].filter((f) => !existsSync(path.join(root, f)));
    if (missing.length) throw new Error(`${root}: missing ${missing.join(', ')} (npm run build, npm run build:binary)`);
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-path-'));
  const file = path.join(dir, 'payload');
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 2654435761) >>> 24;
  writeFileSync(file, Buffer.concat(Array.from({ length: mb }, () => chunk)));
  const results = new Map();
  const work = {
    exec: (s) => () => execCat(s, file),
    url: (s) => () => download(s, mb * 1024 * 1024),
    'url-up': (s) => () => upload(s, chunk, mb),
  };
  try {
    // Fresh processes every round: a process's CPU per MB depends on its history (the garbage
    // collector's heuristics take one path or another), so that each run is a draw of its own.
    for (let round = 0; round < runs; round++) {
      const stacks = [];
      try {
        // Started in reverse order every other round too: the processes started first ran
        // up to 2x cheaper per MB, same build, measured in either order (placement on the cores?).
        const starting = [...roots.entries()];
        if (round % 2) starting.reverse();
        for (const [i, root] of starting) {
          const sdir = path.join(dir, `round${round}-stack${i}`);
          mkdirSync(sdir);
          stacks[i] = root === FLOOR ? await startFloor(sdir) : await startStack(root, sdir, profDir && path.join(profDir, `root${i}`));
        }
        for (const c of cases) {
          for (const s of stacks) await work[c](s)(); // warm-up: connections, JIT
          // Every other round in reverse order: neither checkout always goes first.
          const order = [...stacks.entries()];
          if (round % 2) order.reverse();
          for (const [i, s] of order) {
            const m = await measure(s, work[c](s));
            const key = `${c}\t${i}`;
            if (!results.has(key)) results.set(key, []);
            results.get(key).push(m);
          }
        }
      } finally {
        for (const s of stacks) if (s) await stopStack(s);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const rows = [];
  for (const [key, list] of results) {
    const [c, i] = key.split('\t');
    const med = (f) => median(list.map(f).sort((a, b) => a - b));
    const ms = med((m) => m.ms);
    const perMb = (f) => (med(f) / mb).toFixed(1);
    rows.push([c, roots[i] === FLOOR ? 'floor (bare Node)' : roots.length > 1 ? path.basename(roots[i]) : '.', ms.toFixed(0), (mb / (ms / 1000)).toFixed(0), perMb((m) => m.client), perMb((m) => m.server), perMb((m) => m.entrypoint), med((m) => m.queued).toFixed(0)]);
  }
  process.stdout.write(`## exec and URL data paths: ${mb} MB, median of ${runs} (Node ${process.version})\n\n`);
  process.stdout.write(`${markdownTable(['case', 'root', 'ms', 'MB/s', 'client CPU ms/MB', 'server CPU ms/MB', 'entrypoint CPU ms/MB', 'waiting for a core, ms'], rows)}\n`);
  process.stdout.write('\nclient: waypoint-ctl (exec) or this HTTP client (url)\n');
  process.stdout.write('waiting for a core: the time the server, the entrypoint and this process were runnable but not running (all threads, summed; /proc schedstat): the load of the machine, not the path\n');
}

main().catch((err) => {
  process.stderr.write(`bench: error: ${err.message}\n`);
  process.exitCode = 1;
});
