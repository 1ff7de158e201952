// Fuzz (issue 10, point 3): the entrypoint (the bundle, as shipped: no fault injector) fed
// generated configs, exec answers, URL registrations and tunnel data by a hostile server
// (test/helpers/hostile-arbitraries.ts). After each generated session a well-formed config
// (a sentinel file) must apply, the entrypoint must be up and the app must keep its pid.
// FUZZ_RUNS sets the number of sessions (default 200, ~1 min here); FUZZ_SEED replays a run.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as grpcTypes from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type HostileSession, hostileSession } from '../helpers/hostile-arbitraries.js';
import { type HostileServer, type Reply, startHostile } from '../helpers/hostile-server.js';
import { childPids } from '../helpers/proc.js';
import { cleanEnv, isAlive, killAll, type Running, start, waitFor } from '../helpers/run.js';
import { freePort } from '../helpers/server.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
/** A TCP echo app on $PORT that ignores the signals a config may name for its files. */
const APP = `for (const s of ['SIGUSR1', 'SIGUSR2', 'SIGHUP', 'SIGWINCH']) process.on(s, () => {});
require('net').createServer((c) => { c.on('error', () => {}); c.pipe(c); })
  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening ' + process.pid));`;

function sentinel(name: string): Reply {
  return { config: { env_vars: [{ name, static: 'ok', name_is_path: true }] } };
}

/** Writes, unless the call is already gone (a hostile reply may have ended it). */
function send(call: { write(m: Reply): boolean }, replies: Reply[]): void {
  for (const reply of replies) {
    try {
      call.write(reply);
    } catch {
      return;
    }
  }
}

/** Ends the server's side once its replies are out: the entrypoint's session must end with it. */
function end(call: { cancelled: boolean; end(): void }): void {
  if (call.cancelled) return;
  try {
    call.end();
  } catch {
    // already over
  }
}

describe('fuzz: a hostile server never ends the entrypoint nor touches the app', () => {
  let dir: string;
  let server: HostileServer;
  let r: Running;
  let app: number;
  let current: HostileSession = { configs: [], exec: [], register: [], connect: [] };
  const registers = new Set<grpcTypes.ServerWritableStream<unknown, Reply>>();

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'wp-fuzz-'));
    server = await startHostile({
      configs: [sentinel('sentinel-0')],
      exec: (call) => {
        call.on('error', () => {});
        call.on('data', (m: { event?: string }) => {
          if (m.event !== 'open') return;
          send(call, current.exec);
          setImmediate(() => end(call));
        });
      },
      register: (call) => {
        call.on('error', () => {});
        registers.add(call);
        call.on('close', () => registers.delete(call));
        call.on('cancelled', () => registers.delete(call));
        send(call, current.register);
      },
      connect: (call) => {
        call.on('error', () => {});
        call.once('data', () => {
          send(call, current.connect);
          setImmediate(() => end(call));
        });
      },
    });
    r = start(['node', '-e', APP], {
      cwd: dir,
      env: cleanEnv({
        WAYPOINT_SERVER_ADDR: server.addr,
        WAYPOINT_DEPLOYMENT_ID: 'D1',
        WAYPOINT_CEB_INVITE_TOKEN: 'invite-fuzz',
        WAYPOINT_CEB_CONNECT_TIMEOUT: '2s',
        PORT: String(await freePort()),
      }),
    });
    await r.waitForOutput(/listening \d+\n/, { timeoutMs: 15_000 });
    app = Number(/listening (\d+)/.exec(r.stdout().toString())![1]);
    await waitFor(() => existsSync(path.join(dir, 'sentinel-0')), { what: () => 'the first config' });
  });

  afterAll(async () => {
    killAll();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`survives ${RUNS} generated sessions; a well-formed config applies after each`, { timeout: 60_000 + RUNS * 1_500 }, async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(hostileSession, async (session) => {
        n++;
        current = session;
        const name = `sentinel-${n}`;
        // A session the hostile part ended: the next one starts with the sentinel.
        server.script.configs = [sentinel(name)];
        for (const reply of session.configs) server.push(reply);
        for (const call of registers) send(call, session.register);
        server.push(sentinel(name));
        await waitFor(() => existsSync(path.join(dir, name)), {
          timeoutMs: 45_000, // a streak of sessions failing at once: the backoff's cap is 30 s
          what: () => `${name} applied; stderr: ${r.stderr().toString().slice(-1500)}`,
        });
        expect(isAlive(r.pid)).toBe(true);
        expect(childPids(r.pid)).toContain(app);
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true },
    );
    expect(isAlive(app)).toBe(true);
    const stderr = r.stderr().toString();
    expect(stderr).not.toMatch(/\n\s+at |internal error: /); // no stack trace, no crash report
    // What the guards caught (a handler that threw) is reported, never fatal: summarised here.
    const caught = stderr.split('\n').filter((l) => /a stream handler failed|internal error \(|applying the config failed/.test(l));
    const kinds = [...new Set(caught.map((l) => l.replace(/^.*?(stream=\S+ )?error=/, '$1').slice(0, 160)))];
    console.log(`fuzz: ${RUNS} sessions, ${server.registrations()} registrations, ${caught.length} faults caught:\n${kinds.join('\n')}`);
  });
});
