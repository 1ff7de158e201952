// The connected faults: the server SIGKILLed and restarted N times (same ports, same data
// dir), then stopped (SIGSTOP) for a while and resumed, while the writer app runs under the
// entrypoint. Each step records its figures and checks in `ctx`; a check that fails is
// recorded and the run goes on, unless nothing after it could mean anything (the entrypoint
// or its app gone, no reconnect at all).
import { CONNECTED, LOST } from './entrypoint.mjs';
import { isRunning, rssMiB, sleep, startTicks, waitFor } from './processes.mjs';

/** src/connection/backoff.ts RECONNECT_POLICY: 0.5 s doubling, jitter down to half, cap 30 s. */
export const BACKOFF = { initialMs: 500, capMs: 30_000 };
/** src/connection/connection.ts DEFAULT_DEADLINE_MS: each call of a session's opening. */
export const SESSION_DEADLINE_MS = 5_000;
/** src/connection/dial.ts: an HTTP/2 ping every 30 s, the peer dead after 10 s without its ack. */
export const KEEPALIVE = { timeMs: 30_000, timeoutMs: 10_000 };
/** Timer and scheduling slack on a loaded 2-core machine, added to every derived bound. */
export const SLACK_MS = 3_000;

/**
 * The latest a reconnect may come after a cut, the server back `downMs` after it. The delays
 * d_k ∈ [b_k/2, b_k], b_k = 500·2^k, so by attempt k at least S_k ≥ 250·(2^k − 1) ms have
 * passed and d_k ≤ 2·S_k + 500: the attempt after the last failing one (S_k < downMs) starts
 * before 3·downMs + 500, and never later than downMs + the cap. Then the session opens (its
 * calls' deadline) plus slack.
 */
export function reconnectBoundMs(downMs) {
  return Math.min(3 * downMs + BACKOFF.initialMs, downMs + BACKOFF.capMs) + SESSION_DEADLINE_MS + SLACK_MS;
}

/** A silent peer is found by the first ping after it fell silent: within time + timeout. */
export const KEEPALIVE_DETECT_BOUND_MS = KEEPALIVE.timeMs + KEEPALIVE.timeoutMs + SLACK_MS;

/**
 * After a partition ends, the entrypoint may be waiting out a capped backoff delay, or be inside
 * an attempt that hangs to its deadline: the cap, one attempt, one session opening, slack.
 */
export const PARTITION_RECONNECT_BOUND_MS = BACKOFF.capMs + 2 * SESSION_DEADLINE_MS + SLACK_MS;

const between = (min, max) => min + Math.random() * (max - min);

/** Follows the app's lines on the current server incarnation into ctx.arrivals. */
export function follow(ctx) {
  const { server, arrivals } = ctx;
  ctx.control?.close();
  const incarnation = server.starts;
  ctx.control = server.control();
  ctx.follower = ctx.control.followLogs({ app: ctx.app }, (line) => arrivals.add(line, incarnation));
  ctx.incarnation = incarnation;
}

/** Polls ListInstances until our instance is listed; the time it was seen, or undefined. */
export async function waitListed(ctx, timeoutMs) {
  return waitFor(
    async () => {
      try {
        const list = await ctx.control.instances(ctx.app);
        return list.some((i) => i.id === ctx.ep.instanceId) ? Date.now() : undefined;
      } catch {
        return undefined; // not answering yet
      }
    },
    { timeoutMs, intervalMs: 50 },
  );
}

/** The app is the one started at the beginning: same pid, same start time, running. */
export function sameApp(ctx) {
  const { pid, ticks } = ctx.appProc;
  return isRunning(pid) && startTicks(pid) === ticks;
}

/** Waits until a reader got a line written after `since`: new lines arrive. */
async function waitNewLines(ctx, since, timeoutMs = 15_000) {
  return waitFor(() => ctx.arrivals.newestWrite(ctx.incarnation) > since && Date.now(), { timeoutMs, intervalMs: 25 });
}

/** The real ctl lists the instance: `waypoint-ctl instances --app <app> --json`. */
async function ctlLists(ctx) {
  const r = await ctx.server.ctl(['instances', '--app', ctx.app, '--json']);
  if (r.code !== 0) return `exit ${r.code}: ${r.stderr.trim()}`;
  try {
    return JSON.parse(r.stdout).some((i) => i.id === ctx.ep.instanceId) ? true : 'not listed';
  } catch {
    return `unparsable output ${JSON.stringify(r.stdout.slice(0, 200))}`;
  }
}

/**
 * One kill/restart cycle. Returns false when the run cannot go on. Figures into ctx.cycles[].
 */
export async function killCycle(ctx, n, { dwellMs, cutMaxMs }) {
  const { server, ep, check } = ctx;
  const row = { n };
  ctx.cycles.push(row);
  // Connected for a while, so that the cut falls at a random point of the shipping.
  await sleep(between(dwellMs[0], dwellMs[1]));
  row.rssMiB = rssMiB(ep.pid);
  const at = Date.now();
  await server.kill9();
  const noticed = await ep.waitEvent(at, LOST, 10_000);
  const noticedOk = check(`cycle ${n}: the entrypoint noticed the kill`, noticed !== undefined, noticed ? `${noticed.t - at} ms` : `no "lost the server connection" line within 10 s: ${ep.tail()}`, {
    quiet: true,
  });
  if (!noticedOk) {
    return false;
  }
  const cut = { kind: 'kill', at, noticedAt: noticed.t, reconnectedAt: Infinity };
  ctx.cuts.push(cut);
  // Down for a random while: some restarts land in the first backoff steps, some later.
  await sleep(between(0, cutMaxMs));
  let readyAt;
  try {
    readyAt = await server.start();
  } catch (err) {
    check(`cycle ${n}: the server restarts`, false, err.message);
    return false;
  }
  follow(ctx);
  const downMs = readyAt - at;
  const boundMs = reconnectBoundMs(downMs);
  const listedAt = await waitListed(ctx, boundMs + BACKOFF.capMs);
  // Listed when its config stream opened; its "connected" line follows that answer.
  const reconnected = listedAt && (await ep.waitEvent(noticed.t, CONNECTED, 5_000));
  if (reconnected) cut.reconnectedAt = reconnected.t;
  row.downMs = downMs;
  row.reconnectMs = listedAt === undefined ? undefined : listedAt - at;
  row.boundMs = boundMs;
  const inTime = listedAt !== undefined && listedAt - at <= boundMs;
  check(
    `cycle ${n}: re-registered within the backoff bound`,
    inTime,
    listedAt === undefined ? `not listed ${boundMs + BACKOFF.capMs} ms after the kill: ${ep.tail()}` : `${listedAt - at} ms after the kill (down ${downMs} ms, bound ${boundMs} ms)`,
    { quiet: true },
  );
  if (listedAt === undefined) return false;
  const listed = await ctlLists(ctx);
  check(`cycle ${n}: waypoint-ctl instances lists it`, listed === true, String(listed), { quiet: true });
  const arrived = await waitNewLines(ctx, listedAt);
  check(`cycle ${n}: new lines arrive after the restart`, arrived !== undefined, arrived ? `${arrived - listedAt} ms` : 'none within 15 s', { quiet: true });
  const app = sameApp(ctx);
  check(`cycle ${n}: the app was never restarted`, app, app ? '' : `pid ${ctx.appProc.pid} gone or replaced`, { quiet: true });
  return ep.alive() && app;
}

/** The server stopped (SIGSTOP) for `partitionMs`, then resumed. Figures into ctx.partition. */
export async function partition(ctx, partitionMs) {
  const { server, ep, check } = ctx;
  const p = { partitionMs };
  ctx.partition = p;
  const at = Date.now();
  server.pause();
  const noticed = await ep.waitEvent(at, LOST, partitionMs);
  p.detectMs = noticed && noticed.t - at;
  p.reason = noticed && LOST.exec(noticed.text)?.[1];
  check(
    'partition: the entrypoint noticed the silent server by keepalive',
    noticed !== undefined && p.detectMs <= KEEPALIVE_DETECT_BOUND_MS,
    noticed ? `after ${p.detectMs} ms (bound ${KEEPALIVE_DETECT_BOUND_MS} ms), reason ${p.reason}` : `no "lost the server connection" line within the ${partitionMs} ms partition: ${ep.tail()}`,
  );
  // The fault lasts its full length whatever the entrypoint did meanwhile.
  await sleep(Math.max(0, at + partitionMs - Date.now()));
  p.appKept = sameApp(ctx) && ep.alive();
  check('partition: the app kept running (same pid)', p.appKept, p.appKept ? `pid ${ctx.appProc.pid}` : `pid ${ctx.appProc.pid} gone or replaced`);
  const resumedAt = Date.now();
  server.resume();
  const cut = { kind: 'partition', at, noticedAt: noticed?.t ?? resumedAt, reconnectedAt: Infinity };
  ctx.cuts.push(cut);
  const listedAt = await waitListed(ctx, PARTITION_RECONNECT_BOUND_MS + BACKOFF.capMs);
  const reconnected = listedAt && (await ep.waitEvent(resumedAt, CONNECTED, 5_000));
  if (reconnected) cut.reconnectedAt = reconnected.t;
  p.reconnectMs = listedAt && listedAt - resumedAt;
  // Listed only counts once a connection made after the resume is the one listed.
  const fresh = reconnected !== undefined && reconnected.t >= resumedAt;
  check(
    'partition: re-registered after SIGCONT',
    fresh && listedAt !== undefined && p.reconnectMs <= PARTITION_RECONNECT_BOUND_MS,
    listedAt === undefined ? `not listed ${PARTITION_RECONNECT_BOUND_MS + BACKOFF.capMs} ms after SIGCONT: ${ep.tail()}` : `${p.reconnectMs} ms after SIGCONT (bound ${PARTITION_RECONNECT_BOUND_MS} ms)${fresh ? '' : ', but on no new connection'}`,
  );
  if (listedAt === undefined) return false;
  const arrived = await waitNewLines(ctx, resumedAt);
  p.newLinesMs = arrived && arrived - resumedAt;
  check('partition: new lines arrive after SIGCONT', arrived !== undefined, arrived ? `${p.newLinesMs} ms after SIGCONT` : 'none within 15 s');
  // The server also sees the old connection close when it resumes: the instance must stay listed.
  await sleep(3_000);
  const still = await waitListed(ctx, 2_000);
  check('partition: still listed 3 s later', still !== undefined, still ? '' : 'the instance disappeared from the listing');
  return ep.alive();
}
