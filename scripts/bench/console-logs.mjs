// The console's logs page following an app that writes 10 000 lines/s (issue 14): the real
// server, the real entrypoint in front of scripts/bench/console-writer.mjs, Debian's chromium on
// /logs?app=bench&source=app. Reported: the lines the page received (kept + dropped from its
// ring), those the server said it skipped for the page, unaccounted lines (written - received -
// skipped: none expected; "written" counts the app's closing `done` line on stderr too), the
// page's frames per second while the lines pour in (rendering keeps up while this stays well
// above 10), and the time from the app's last write until its last line is on the screen, beside
// the time until a plain client of the same stream (curl's view) had it: the difference is the
// page's own delay, the rest the server's and the machine's.
// A fresh server and browser context per run; BENCH_RUNS runs (default 3), medians reported.
//   node scripts/bench/console-logs.mjs   (BENCH_RATE, BENCH_SECONDS, BENCH_RUNS)
// BENCH_PROFILE=1: also where the page's main thread spends its time (a CPU profile of 3 s).
// BENCH_ENFORCE=1: exit 1 when a line is unaccounted or the median last line takes over 1 s.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { cleanEnv, envInt, markdownTable, median, referenceServer, ROOT } from './lib.mjs';

const RATE = envInt('BENCH_RATE', 10_000);
const SECONDS = envInt('BENCH_SECONDS', 10);
const RUNS = envInt('BENCH_RUNS', 3);
const PROFILE = process.env.BENCH_PROFILE === '1';
const LAUNCHER = path.join(ROOT, 'bin/waypoint-entrypoint');
const WRITER = path.join(ROOT, 'scripts/bench/console-writer.mjs');

/** Frames the page paints a second, counted over `ms`. */
const countFrames = (ms) => `new Promise((resolve) => {
  let n = 0; const t0 = performance.now();
  const f = () => { n++; if (performance.now() - t0 < ${ms}) requestAnimationFrame(f); else resolve(n / (${ms} / 1000)); };
  requestAnimationFrame(f);
})`;

async function cpuProfile(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await new Promise((r) => setTimeout(r, 3000));
  await cdp.send('Profiler.start');
  await new Promise((r) => setTimeout(r, 3000));
  const { profile } = await cdp.send('Profiler.stop');
  const self = new Map();
  const dt = (profile.endTime - profile.startTime) / profile.samples.length / 1000;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const id of profile.samples) {
    const f = byId.get(id).callFrame;
    const k = `${f.functionName || '(anonymous)'} ${f.url.split('/').pop()}:${f.lineNumber}`;
    self.set(k, (self.get(k) ?? 0) + dt);
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([k, ms]) => `${ms.toFixed(0).padStart(6)} ms  ${k}`).join('\n');
}

/**
 * A plain client of the same stream beside the page (curl's view): when each `seq <n>` line
 * reached it, so that the page's own delay can be told from the server's and the machine's.
 */
function rawFollower(base, token) {
  const seen = new Map();
  const ac = new AbortController();
  const done = (async () => {
    const res = await fetch(`${base}/api/v1/logs/stream?app=bench&source=app`, { headers: { Authorization: `Bearer ${token}` }, signal: ac.signal });
    const dec = new TextDecoder();
    let buf = '';
    for await (const c of res.body) {
      buf += dec.decode(c, { stream: true });
      for (let m; (m = /seq (\d+) /.exec(buf)); buf = buf.slice(m.index + m[0].length)) seen.set(Number(m[1]), Date.now());
    }
  })().catch(() => undefined);
  return { seen, stop: () => (ac.abort(), done) };
}

async function once(browser) {
  const server = await referenceServer();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  let app, raw;
  try {
    const page = await context.newPage();
    const base = `http://${server.httpAddr}`;
    await page.goto(`${base}/`);
    await page.getByLabel('Operator token').fill(server.operatorToken);
    await page.getByLabel('Operator token').press('Enter');
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    await page.goto(`${base}/logs?app=bench&source=app`);
    await page.getByText('Following').waitFor({ timeout: 10_000 });
    raw = rawFollower(base, server.operatorToken);

    app = spawn(LAUNCHER, [process.execPath, WRITER], {
      env: cleanEnv({ ...server.env, BENCH_RATE: String(RATE), BENCH_SECONDS: String(SECONDS) }),
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const done = new Promise((resolve, reject) => {
      app.stderr.on('data', (c) => {
        err += c;
        const m = /^done (\d+)$/m.exec(err);
        if (m) resolve({ at: Date.now(), total: Number(m[1]) });
      });
      app.once('exit', (code) => reject(new Error(`the entrypoint exited ${code} before the app was done: ${err.slice(-500)}`)));
    });
    const fps = page.evaluate(countFrames(Math.max(1, SECONDS - 1) * 1000));
    const profile = PROFILE ? await cpuProfile(context, page) : undefined;
    const { at, total } = await done;
    await page.locator('.log-row', { hasText: `seq ${total - 1} ` }).waitFor({ timeout: 60_000 });
    const lastShownMs = Date.now() - at;
    const deadline = Date.now() + 30_000;
    while (!raw.seen.has(total - 1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const rawMs = raw.seen.has(total - 1) ? raw.seen.get(total - 1) - at : NaN;
    const status = await page.locator('.toolbar [role=status]').innerText();
    const num = (re) => Number(re.exec(status)?.[1] ?? 0);
    const received = num(/of (\d+) kept/) + num(/(\d+) older lines dropped/);
    const skipped = num(/(\d+) skipped by the server/);
    const written = total + 1;
    return { written, received, skipped, unaccounted: written - received - skipped, fps: await fps, lastShownMs, rawMs, profile };
  } finally {
    app?.kill('SIGTERM');
    await raw?.stop();
    await context.close();
    server.stop();
  }
}

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: process.getuid() === 0 ? ['--no-sandbox'] : [] });
const runs = [];
try {
  for (let i = 0; i < RUNS; i++) runs.push(await once(browser));
} finally {
  await browser.close();
}
const med = (k) => median(runs.map((r) => r[k]).sort((a, b) => a - b));
console.log(`console logs page, an app writing ${RATE} lines/s for ${SECONDS} s; ${RUNS} runs, medians (each run, page / plain client: ${runs.map((r) => `${r.lastShownMs} / ${r.rawMs} ms`).join(', ')}):\n`);
console.log(
  markdownTable(
    ['written', 'received by the page', 'skipped by the server', 'unaccounted', 'page frames/s', 'last line shown after', 'at a plain client after'],
    [[med('written'), med('received'), med('skipped'), med('unaccounted'), med('fps').toFixed(1), `${med('lastShownMs')} ms`, `${med('rawMs')} ms`]],
  ),
);
for (const r of runs) if (r.profile) console.log(`\nthe page's main thread, self time over 3 s:\n${r.profile}`);
if (process.env.BENCH_ENFORCE === '1' && (runs.some((r) => r.unaccounted !== 0) || med('lastShownMs') > 1000)) process.exitCode = 1;
