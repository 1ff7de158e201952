// M3: a session that fails right after it opened (a config too big for one gRPC message, sent
// at once by a rogue server: the audit's `rogue.sh huge_msg`) must not reset the backoff. The
// entrypoint (the bundle) against test/helpers/hostile-server.ts; the app must not notice.
import { afterEach, describe, expect, it } from 'vitest';
import { type HostileServer, startHostile } from '../helpers/hostile-server.js';
import { childPids } from '../helpers/proc.js';
import { cleanEnv, killAll, type Running, start, waitFor } from '../helpers/run.js';

const APP = 'echo started; while :; do sleep 0.1; done';
const servers: HostileServer[] = [];

afterEach(async () => {
  killAll();
  for (const s of servers.splice(0)) await s.stop();
});

function launch(addr: string): Running {
  return start(['sh', '-c', APP], {
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: addr,
      WAYPOINT_DEPLOYMENT_ID: 'D1',
      WAYPOINT_CEB_INVITE_TOKEN: 'invite-m3',
      WAYPOINT_CEB_CONNECT_TIMEOUT: '500ms',
      WAYPOINT_LOG_LEVEL: 'debug',
    }),
  });
}

const stderr = (r: Running) => r.stderr().toString();
const count = (text: string, re: RegExp) => (text.match(new RegExp(re, 'g')) ?? []).length;

describe('M3: reconnect backoff after a session that fails at once', () => {
  it('M3: a 10 MB config sent right after opening: attempts back off exponentially, the failure is warned once', async () => {
    const huge = { config: { env_vars: [{ name: 'HUGE', static: 'x'.repeat(10 * 1024 * 1024) }] } };
    const server = await startHostile({ configs: [huge] });
    servers.push(server);
    const r = launch(server.addr);
    await r.waitForOutput('started\n');
    const [app] = childPids(r.pid);
    const t0 = Date.now();
    await waitFor(() => Date.now() - t0 > 8_000, { timeoutMs: 9_000 });
    // Without growth (the backoff reset at each "connected") this was ~25 sessions in 8 s;
    // with it the delays are 0.25-0.5, 0.5-1, 1-2, 2-4, 4-8 s: at most 6 sessions.
    expect(server.registrations()).toBeGreaterThanOrEqual(3);
    expect(server.registrations()).toBeLessThanOrEqual(6);
    const delays = [...stderr(r).matchAll(/lost the server connection; reconnecting .*retry_in_ms=(\d+)/g)].map((m) => Number(m[1]));
    expect(delays.length).toBeGreaterThanOrEqual(3);
    for (let i = 1; i < delays.length; i++) expect(delays[i]).toBeGreaterThan(delays[i - 1] / 2); // jitter: [base/2, base]
    expect(delays.at(-1)!).toBeGreaterThanOrEqual(1000);
    // One warning for the whole streak, not three lines per cycle.
    expect(count(stderr(r), /warn: lost the server connection/)).toBe(1);
    expect(stderr(r)).toMatch(/warn: lost the server connection; reconnecting .*RESOURCE_EXHAUSTED/);
    expect(count(stderr(r), /info: connected to the server/)).toBe(1);
    expect(count(stderr(r), /error: /)).toBe(0);
    expect(childPids(r.pid)).toEqual([app]);
  });

  it('M3: an invalid config then the stream closed, every session: backoff grows, the refusal and the loss told once each', async () => {
    const server = await startHostile({
      config: (call) => {
        call.write({ config: { env_vars: [{ name: '', static: 'nameless' }] } });
        call.end();
      },
    });
    servers.push(server);
    const r = launch(server.addr);
    await r.waitForOutput('started\n');
    await waitFor(() => server.registrations() >= 4, { timeoutMs: 15_000, what: () => 'four sessions' });
    const delays = [...stderr(r).matchAll(/lost the server connection; reconnecting .*retry_in_ms=(\d+)/g)].map((m) => Number(m[1]));
    expect(delays.at(-1)!).toBeGreaterThan(500); // 0.25-0.5, 0.5-1, 1-2: grown past the first step
    expect(count(stderr(r), /warn: config refused: it breaks the protocol/)).toBe(1);
    expect(count(stderr(r), /warn: lost the server connection/)).toBe(1);
  });

  it('M3: a session that applied a valid config resets the backoff: after a server restart it reconnects at once', async () => {
    const server = await startHostile({ configs: [{ config: { env_vars: [{ name: 'OK', static: '1' }] } }] });
    servers.push(server);
    const r = launch(server.addr);
    await r.waitForOutput('started\n');
    await waitFor(() => server.configStreams.size === 1, { what: () => 'the registration' });
    // The server ends every session it had, three times over: each session was healthy, so
    // each reconnect comes after the first step of the backoff (≤ 500 ms), not a growing one.
    for (let i = 2; i <= 4; i++) {
      for (const call of server.configStreams) call.end();
      await waitFor(() => server.registrations() === i && server.configStreams.size === 1, { what: () => `registration ${i}` });
      await waitFor(() => count(stderr(r), /config received count=/) >= i, { what: () => `config ${i}` });
    }
    const delays = [...stderr(r).matchAll(/lost the server connection; reconnecting .*retry_in_ms=(\d+)/g)].map((m) => Number(m[1]));
    expect(delays).toHaveLength(3);
    for (const d of delays) expect(d).toBeLessThanOrEqual(500);
  });
});
