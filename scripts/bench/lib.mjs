// Shared helpers for the benchmarks: timing commands, statistics, markdown output.
// Every bench compares against a baseline measured in the same run, so that the machine's noise
// of the moment hits both sides alike.
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A positive integer from the environment, or the default. */
export function envInt(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  return n;
}

export function isExecutable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** `name` as found on PATH (or itself, when a path), if executable; else undefined. */
/**
 * The entrypoint a bench runs: BENCH_BINARY, else the x64 release binary when built (npm run
 * release: what ships, the Node LTS runtime inside), else dist/waypoint-entrypoint, else
 * `fallback` (when given) — the path of the last candidate when none is there, for the
 * caller's "missing" message.
 */
export function entrypointBinary(fallback) {
  if (process.env.BENCH_BINARY) return process.env.BENCH_BINARY;
  const candidates = [path.join(ROOT, 'dist/release/waypoint-entrypoint-linux-x64'), path.join(ROOT, 'dist/waypoint-entrypoint'), ...(fallback ? [fallback] : [])];
  return candidates.find((f) => existsSync(f)) ?? candidates.at(-1);
}

export function which(name) {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const file = path.join(dir || '.', name);
    if (isExecutable(file)) return file;
  }
  return undefined;
}

/**
 * Runs `argv` to completion once and returns its wall time in ms. Output is discarded; a
 * non-zero exit or a spawn error throws, since timing a failing command is meaningless.
 */
export function timeOnce(argv, { env = process.env, cwd = ROOT } = {}) {
  const startedAt = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'ignore', env, cwd });
  const ms = Number(process.hrtime.bigint() - startedAt) / 1e6;
  if (r.error) throw new Error(`${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited with ${r.signal ?? r.status}`);
  return ms;
}

/** CPU ms (user + system, all threads) of a live process so far, from /proc (USER_HZ ticks). */
export function processCpuMs(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Times each case `runs` times, round-robin (case 1, case 2, ..., case 1, ...), so that every
 * case sees the same machine noise. One untimed warm-up round first (page cache, binaries
 * mapped). Returns Map(case name -> sorted samples in ms).
 */
export function timeRoundRobin(cases, runs, { warmup = 1 } = {}) {
  const samples = new Map(cases.map((c) => [c.name, []]));
  for (let round = -warmup; round < runs; round++) {
    for (const c of cases) {
      const ms = timeOnce(c.argv, c);
      if (round >= 0) samples.get(c.name).push(ms);
    }
  }
  for (const list of samples.values()) list.sort((a, b) => a - b);
  return samples;
}

/** The q-quantile (0..1) of sorted samples, nearest-rank. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil(q * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))];
}

export function median(sorted) {
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A markdown table from a header row and rows of cells. */
export function markdownTable(header, rows) {
  const lines = [header, header.map(() => '---'), ...rows];
  return lines.map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

export function fmtMs(ms) {
  return Number.isFinite(ms) ? ms.toFixed(1) : 'n/a';
}

export function fileSizeMiB(file) {
  return statSync(file).size / 1024 / 1024;
}

/**
 * Drops `file`'s pages from the page cache (GNU dd: iflag=nocache with count=0 advises
 * POSIX_FADV_DONTNEED on the whole file), so that the next start reads it back from disk, as
 * after an image pull or a reboot. Without it, a binary just written by one big write() sits in
 * large folios, each page fault maps a whole folio, and its RssFile reads ~20 MiB more.
 */
export function dropPageCache(file) {
  const r = spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`dd iflag=nocache ${file}: ${r.error?.message ?? r.stderr.trim()}`);
}

/** A predictable environment for the programs we time: nothing of the developer's shell leaks in. */
export function cleanEnv(extra = {}) {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...extra };
}

/**
 * The reference server in a temp dir with one deployment of app "bench": the env an instance
 * needs, the env a ctl needs, the server's gRPC and HTTP addresses, its operator token, its pid,
 * and stop(). `extraArgs`: more flags for `server run`. `databaseUrl`: a replica on that
 * PostgreSQL database instead of a SQLite data dir; `operatorToken`: that of a replica already
 * on it (a later replica prints none), and then no deployment is made (the first one's is used).
 * `root`: the checkout whose server runs (default this one; a baseline's, built, to compare).
 */
export async function referenceServer({ extraArgs = [], databaseUrl, operatorToken: known, root = ROOT } = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-bench-server-'));
  const env = cleanEnv({ XDG_CONFIG_HOME: path.join(dir, 'config') });
  const store = databaseUrl ? ['--database', databaseUrl] : ['--data-dir', path.join(dir, 'data')];
  const args = ['server', 'run', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...store, ...extraArgs];
  // BENCH_SERVER_NODE_OPTIONS: for profiling the server under a bench (e.g. --perf-basic-prof).
  const profiling = process.env.BENCH_SERVER_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_SERVER_NODE_OPTIONS } : {};
  // BENCH_SERVER_NODE_ARGS: node flags NODE_OPTIONS refuses (--cpu-prof): node runs the bundle itself.
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean);
  const ctl = path.join(root, 'bin/waypoint-ctl');
  const [cmd, argv] = nodeArgs ? [process.execPath, [...nodeArgs, path.join(root, 'dist/ctl.cjs'), ...args]] : [ctl, args];
  // What it prints goes to a file, not a pipe: a bench that blocks its event loop (spawnSync,
  // timeOnce) would leave a pipe unread, and the server would stall once it filled.
  // BENCH_SERVER_OUTPUT=FILE: that file (e.g. with --trace-gc), kept.
  const outFile = process.env.BENCH_SERVER_OUTPUT ?? path.join(dir, 'server.out');
  const outFd = openSync(outFile, 'a');
  // A kept file may hold an earlier server's lines (its token): this one's start after them.
  const outStart = statSync(outFile).size;
  const proc = spawn(cmd, argv, {
    env: { ...env, ...profiling },
    stdio: ['ignore', outFd, outFd],
    cwd: dir, // where --cpu-prof and heap snapshots land
  });
  closeSync(outFd);
  let addr, httpAddr, operatorToken, created;
  let out = '';
  const stop = () => {
    proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  // Started: listening, and with its token (or as a replica that joined, when it has none to print).
  const started = known ? /listening on 127\.0\.0\.1:\d+[^]*replica \S+ \(the others/ : /listening on 127\.0\.0\.1:\d+[^]*operator token \S+/;
  try {
    await new Promise((resolve, reject) => {
      const deadline = Date.now() + 30_000;
      const check = () => {
        out = readFileSync(outFile).subarray(outStart).toString('utf8');
        if (started.test(out)) return resolve();
        if (proc.exitCode !== null || proc.signalCode !== null) return reject(new Error(`waypoint-ctl server run exited ${proc.exitCode ?? proc.signalCode}: ${out}`));
        if (Date.now() > deadline) return reject(new Error(`waypoint-ctl server run did not start in 30 s: ${out}`));
        setTimeout(check, 20);
      };
      check();
    });
    addr = /listening on (127\.0\.0\.1:\d+)/.exec(out)[1];
    httpAddr = /http listening on (127\.0\.0\.1:\d+)/.exec(out)[1];
    operatorToken = known ?? /operator token (\S+)/.exec(out)[1];
    if (!known) {
      created = await new Promise((resolve, reject) => {
        const create = spawn(ctl, ['deployment', 'create', 'bench', '--json'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let json = '';
        create.stdout.on('data', (c) => (json += c));
        create.on('close', (code) => (code === 0 ? resolve(JSON.parse(json)) : reject(new Error(`deployment create exited ${code}`))));
      });
    }
  } catch (err) {
    stop(); // a server that never became usable must not outlive the bench
    throw err;
  }
  return {
    env: created?.env,
    /** For waypoint-ctl: finds the server and its operator token through the context file. */
    ctlEnv: env,
    addr,
    /** The HTTP ingress of the URL service: apps are at http://<app>.localhost:<port>/. */
    httpAddr,
    operatorToken,
    /** The server process (bin/waypoint-ctl execs node). */
    pid: proc.pid,
    /** Its temp dir (removed by stop()): where a --cpu-prof or heap snapshot was written. */
    dir,
    /** Asks it to stop cleanly (SIGTERM): a profile is written then. Resolves once it has exited. */
    terminate: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', resolve);
        proc.kill('SIGTERM');
      }),
    stop,
  };
}

/**
 * Stops an entrypoint the way an orchestrator does: SIGTERM, so that it stops its app too (a
 * SIGKILLed entrypoint leaves its app running: the app has a session of its own), then SIGKILL
 * after `graceMs`. Resolves once it has exited.
 */
export async function stopEntrypoint(child, graceMs = 5_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

let control;
function loadControl() {
  if (control) return control;
  const require = createRequire(path.join(ROOT, 'package.json'));
  const grpc = require('@grpc/grpc-js');
  const protoLoader = require('@grpc/proto-loader');
  const descriptor = JSON.parse(readFileSync(path.join(ROOT, 'src/protocol/generated/descriptor.json'), 'utf8'));
  const definition = protoLoader.fromJSON(descriptor, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  control = { grpc, Control: grpc.loadPackageDefinition(definition).waypoint_entrypoint.control.v1.Control };
  return control;
}

/**
 * The Control API over gRPC with the operator token, in this process (a ctl per poll would steal
 * the CPU a bench or a fault check measures): ListInstances and GetLogs (follow).
 */
export function controlClient(addr, token) {
  const { grpc, Control } = loadControl();
  const client = new Control(addr, grpc.credentials.createInsecure());
  const metadata = () => {
    const m = new grpc.Metadata();
    m.set('authorization', token);
    m.set('client-api-protocol', '1,1');
    return m;
  };
  const instances = (app = '', timeoutMs = 2_000) =>
    new Promise((resolve, reject) =>
      client.ListInstances({ app }, metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => (err ? reject(err) : resolve(res.instances))),
    );
  return {
    /** The instances listed now; rejects on any error (the server down, a deadline). */
    instances,
    /** Log lines the server counted for `instanceId` (undefined: not listed). */
    async linesReceived(instanceId, timeoutMs = 5_000) {
      const found = (await instances('', timeoutMs)).find((i) => i.id === instanceId);
      return found ? Number(found.log_lines_received) : undefined;
    },
    /**
     * Follows the matching lines (source APP unless told): the buffered ones first, then live.
     * `onLine(text, line)` per line; `onDropped(n)` when the server says this reader lost n lines
     * (it read too slowly). Returns { cancel, ended }: ended resolves with the final status.
     */
    followLogs({ app = '', instanceId = '', source = 'APP' }, onLine, onDropped = () => {}) {
      const call = client.GetLogs({ app, instance_id: instanceId, source, follow: true }, metadata());
      const ended = new Promise((resolve) => {
        call.on('data', (res) => {
          if (Number(res.dropped) > 0) onDropped(Number(res.dropped));
          for (const l of res.lines) onLine(l.line, l);
        });
        call.on('error', () => {});
        call.on('status', resolve);
      });
      return { cancel: () => call.cancel(), ended };
    },
    /** The client itself and a fresh metadata, for the calls not wrapped here. */
    raw: client,
    metadata,
    close: () => client.close(),
  };
}

/** A port that was free a moment ago, on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Waits for `check` (async, true when done; a throw counts as not yet), every `everyMs`, at most `timeoutMs`. */
export async function until(what, check, { timeoutMs = 15_000, everyMs = 50 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** The benches' app (PORT): `/download?bytes=N` streams N bytes, anything else answers "ok". */
export const DOWNLOAD_APP_SOURCE = `
const http = require('node:http');
const chunk = Buffer.alloc(256 * 1024, 97);
http.createServer((req, res) => {
  if (req.url.startsWith('/download')) {
    const total = Number(new URL(req.url, 'http://x').searchParams.get('bytes'));
    let sent = 0;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
    const pump = () => {
      while (sent < total) {
        const piece = total - sent >= chunk.length ? chunk : chunk.subarray(0, total - sent);
        sent += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  if (req.url === '/upload') {
    let got = 0;
    req.on('data', (c) => (got += c.length));
    req.on('end', () => res.end(String(got)));
    return;
  }
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
  res.end('ok\\n');
}).listen(Number(process.env.PORT), '127.0.0.1', () => console.log('ready'));
process.on('SIGTERM', () => process.exit(0));
`;
