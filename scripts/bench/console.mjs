// The web console's log stream against GetLogs, side by side in one run: an app under the
// entrypoint, connected to the reference server, writes lines stamped with their write time;
// two followers of the app's lines read them at once, the console's Server-Sent Events
// (/api/v1/logs/stream, with the operator token) and the Control API's GetLogs (follow), both in
// this process. Two loads:
//   - paced: BENCH_CONSOLE_RATE lines/s (default 10 000, the console's logs page's target) for
//     BENCH_CONSOLE_SECONDS (default 5): lines received, skipped (the server dropped them for a
//     slow reader), and latency from the app's write to the follower (p50, p99, max);
//   - burst: BENCH_CONSOLE_BURST_RATE lines/s (default 100 000) for 2 s, ten times the page's
//     target: lines received and skipped, and the rate each follower got them at.
// "at server" is what the server counted from the entrypoint (ListInstances' log lines, which
// include the entrypoint's own few lines): a line neither received nor skipped never reached the
// server (the entrypoint's own queue dropped it, with a marker line).
// Run: node scripts/bench/console.mjs (after npm run build).
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { cleanEnv, controlClient, envInt, markdownTable, quantile, referenceServer, ROOT, stopEntrypoint } from './lib.mjs';

const LAUNCHER = path.join(ROOT, 'bin/waypoint-entrypoint');
const RATE = envInt('BENCH_CONSOLE_RATE', 10_000);
const SECONDS = envInt('BENCH_CONSOLE_SECONDS', 5);
const BURST_RATE = envInt('BENCH_CONSOLE_BURST_RATE', 100_000);
const BURST_SECONDS = 2;
const QUIET_MS = 2_000;

/** Writes `<ms since the epoch> <n>` lines, `rate` per second in 10 ms ticks, `total` in all, padded to 100 B. */
const PACED_APP = `
const [rate, total] = [Number(process.argv[1]), Number(process.argv[2])];
const pad = 'x'.repeat(100);
let n = 0; const t0 = Date.now();
const tick = () => {
  const due = Math.min(total, Math.floor(((Date.now() - t0) * rate) / 1000));
  let out = '';
  while (n < due) { n++; out += (Date.now() + ' ' + n + ' ' + pad).slice(0, 99) + '\\n'; }
  if (out) process.stdout.write(out);
  if (n < total) setTimeout(tick, 10); else setInterval(() => {}, 1 << 30);
};
tick();`;

/** A follower's tally: lines, skipped, latencies (ms). */
function tally() {
  return { lines: 0, skipped: 0, latencies: [], first: 0, last: 0 };
}

function record(t, text) {
  const now = Date.now();
  t.lines++;
  t.first ||= now;
  t.last = now;
  const stamp = Number(text.split(' ', 1)[0]);
  if (Number.isFinite(stamp) && stamp > 1e12) t.latencies.push(now - stamp);
}

/** The console's event stream of the app's lines, parsed as it comes. */
function followSse(server, t) {
  const port = Number(server.httpAddr.split(':')[1]);
  let buffer = '';
  const req = http.get(
    { host: '127.0.0.1', port, path: '/api/v1/logs/stream?app=bench&source=app', headers: { Host: `localhost:${port}`, Authorization: `Bearer ${server.operatorToken}` }, agent: false },
    (res) => {
      if (res.statusCode !== 200) throw new Error(`the console's log stream answered ${res.statusCode}`);
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        buffer += chunk;
        let i;
        while ((i = buffer.indexOf('\n\n')) >= 0) {
          const ev = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          const data = /^data: (.*)$/m.exec(ev)?.[1];
          if (/^event: line$/m.test(ev)) record(t, JSON.parse(data).line);
          else if (/^event: skipped$/m.test(ev)) t.skipped += JSON.parse(data).count;
        }
      });
    },
  );
  req.on('error', () => {});
  return () => req.destroy();
}

async function waitQuiet(tallies, expected, deadlineMs) {
  const deadline = Date.now() + deadlineMs;
  let last = -1;
  let stableSince = Date.now();
  for (;;) {
    const seen = tallies.map((t) => t.lines + t.skipped).join(',');
    if (tallies.every((t) => t.lines + t.skipped >= expected) || Date.now() > deadline) return;
    if (seen !== last) {
      last = seen;
      stableSince = Date.now();
    } else if (Date.now() - stableSince > QUIET_MS * 5) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function load(name, argv, expected, deadlineMs) {
  const server = await referenceServer();
  const control = controlClient(server.addr, server.operatorToken);
  const sse = tally();
  const grpc = tally();
  const stopSse = followSse(server, sse);
  const follow = control.followLogs({ app: 'bench' }, (line) => record(grpc, line), (n) => (grpc.skipped += n));
  await new Promise((r) => setTimeout(r, 300)); // both followers subscribed before the first line
  const t0 = Date.now();
  const ep = spawn(LAUNCHER, ['--', ...argv], { env: cleanEnv(server.env), stdio: ['ignore', 'ignore', 'pipe'] });
  let atServer = NaN;
  try {
    await waitQuiet([sse, grpc], expected, deadlineMs);
    atServer = (await control.instances('bench')).reduce((n, i) => n + Number(i.log_lines_received), 0);
  } finally {
    stopSse();
    follow.cancel();
    await stopEntrypoint(ep);
    control.close();
    server.stop();
  }
  return [sse, grpc].map((t, i) => {
    const sorted = t.latencies.sort((a, b) => a - b);
    const span = (t.last - Math.max(t.first, t0)) / 1000;
    return [
      name,
      i === 0 ? 'console SSE' : 'GetLogs follow',
      `${t.lines}/${expected}`,
      String(atServer),
      String(t.skipped),
      sorted.length ? `${quantile(sorted, 0.5)} / ${quantile(sorted, 0.99)} / ${sorted.at(-1)}` : '-',
      span > 0 ? `${Math.round(t.lines / span).toLocaleString('en')}` : '-',
    ];
  });
}

const rows = [
  ...(await load(`paced ${RATE}/s × ${SECONDS} s`, ['node', '-e', PACED_APP, String(RATE), String(RATE * SECONDS)], RATE * SECONDS, SECONDS * 1000 + 30_000)),
  ...(await load(`burst ${BURST_RATE}/s × ${BURST_SECONDS} s`, ['node', '-e', PACED_APP, String(BURST_RATE), String(BURST_RATE * BURST_SECONDS)], BURST_RATE * BURST_SECONDS, 60_000)),
];
console.log(markdownTable(['load', 'follower', 'lines received', 'at server', 'skipped', 'latency ms p50 / p99 / max', 'lines/s while receiving'], rows));
