// Fault isolation (issue 10): nothing that arrives over the connection ends the entrypoint or
// touches the app. A hostile server (test/helpers/hostile-server.ts) sends, on each stream,
// messages that are valid protobuf but absurd, malformed bytes, and values that make a handler
// throw: test/fixtures/fault-inject.cjs, preloaded into the bundle (not part of the product),
// makes any code that receives or writes the marker BOOM-7f3a throw, as a bug would. Each
// test checks that the app keeps its pid, the entrypoint stays up and recovers (the stream or
// the session comes back), and a well-formed config still applies afterwards.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as grpcTypes from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type HostileServer, type Reply, startHostile } from '../helpers/hostile-server.js';
import { childPids } from '../helpers/proc.js';
import { cleanEnv, FIXTURES, isAlive, killAll, ROOT, type Running, start, waitFor } from '../helpers/run.js';
import { freePort } from '../helpers/server.js';

export const MARKER = 'BOOM-7f3a';
/** Valid protobuf of no message we know: field 2 (config) claims 2^35 bytes. */
const GARBAGE = Buffer.from([0x12, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x01, 0x02]);
/** A TCP app on $PORT: echoes, and answers MAGIC with the marker (its own bytes make us fail). */
const APP = `const net = require('net');
net.createServer((s) => { s.on('error', () => {}); s.on('data', (d) => s.write(String(d).includes('MAGIC') ? '${MARKER}\\n' : d)); })
  .listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening ' + process.pid));`;

let dir: string;
const servers: HostileServer[] = [];
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-faults-'));
});
afterEach(async () => {
  killAll();
  for (const s of servers.splice(0)) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

export interface Hostile {
  server: HostileServer;
  r: Running;
  /** The app's pid, once it listens. */
  app: number;
  stderr(): string;
}

/** The bundle with the fault injector, against a hostile server, the TCP app under it. */
export async function hostile(script: Parameters<typeof startHostile>[0], cwd: string, extraEnv: NodeJS.ProcessEnv = {}): Promise<Hostile> {
  const server = await startHostile(script);
  servers.push(server);
  const r = start([`--require=${path.join(FIXTURES, 'fault-inject.cjs')}`, path.join(ROOT, 'dist/entrypoint.cjs'), 'node', '-e', APP], {
    bin: process.execPath,
    cwd,
    env: cleanEnv({
      WAYPOINT_SERVER_ADDR: server.addr,
      WAYPOINT_DEPLOYMENT_ID: 'D1',
      WAYPOINT_CEB_INVITE_TOKEN: 'invite-faults',
      WAYPOINT_CEB_CONNECT_TIMEOUT: '1s',
      WAYPOINT_LOG_LEVEL: 'debug',
      PORT: String(await freePort()),
      ...extraEnv,
    }),
  });
  await r.waitForOutput(/listening \d+\n/, { timeoutMs: 15_000 });
  const app = Number(/listening (\d+)/.exec(r.stdout().toString())![1]);
  return { server, r, app, stderr: () => r.stderr().toString() };
}

/** The app was never restarted, the entrypoint is up, and a good config still applies. */
export async function survived(h: Hostile, cwd: string, name = 'applied.txt'): Promise<void> {
  expect(isAlive(h.r.pid)).toBe(true);
  expect(childPids(h.r.pid)).toContain(h.app); // exec sessions may be running beside it
  const good = { config: { env_vars: [{ name, static: 'good', name_is_path: true }] } };
  h.server.script.configs = [good];
  h.server.push(good);
  const file = path.join(cwd, name);
  await waitFor(() => existsSync(file), { timeoutMs: 20_000, what: () => `${name} written; stderr: ${h.stderr().slice(-800)}` });
  expect(readFileSync(file, 'utf8')).toBe('good');
  expect(childPids(h.r.pid)).toContain(h.app); // exec sessions may be running beside it
  expect(h.stderr()).not.toMatch(/internal error: |\n\s+at /); // never a stack trace
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

describe('fault isolation: the config path', () => {
  it('a config whose handling throws drops the session, which comes back with backoff; the app runs on', async () => {
    const poison = { config: { url_service: { control_addr: MARKER, token: 't', labels: '' } } };
    const h = await hostile({ configs: [poison] }, dir);
    await waitFor(() => h.server.registrations() >= 3, { timeoutMs: 15_000, what: () => 'reconnects' });
    expect(h.stderr()).toMatch(/error: a stream handler failed; the stream was dropped .*stream=EntrypointConfig error="injected fault/);
    expect(h.stderr()).toMatch(/lost the server connection; reconnecting .*reason="a handler of the config stream failed"/);
    await survived(h, dir);
  });

  it('one part failing on a config: the others still apply it, the session is dropped and comes back', async () => {
    const config = {
      config: { url_service: { control_addr: 'TRIM-7f3a', token: 't', labels: '' }, env_vars: [{ name: 'other-parts.txt', static: 'yes', name_is_path: true }] },
    };
    const h = await hostile({ configs: [config] }, dir);
    await waitFor(() => h.server.registrations() >= 2, { timeoutMs: 15_000, what: () => 'a reconnect' });
    expect(h.stderr()).toMatch(/error: applying the config failed; reconnecting \(the app keeps running\) error="injected fault/);
    expect(h.stderr()).toMatch(/lost the server connection; reconnecting .*reason="applying the config failed"/);
    expect(readFileSync(path.join(dir, 'other-parts.txt'), 'utf8')).toBe('yes');
    await survived(h, dir);
  });

  it('absurd but valid configs and malformed bytes: refused or ignored, never fatal', async () => {
    const absurd: Reply[] = [
      { config: { env_vars: [{ name: '', static: 'x' }] } },
      { config: { env_vars: [{ name: 'A=B', static: 'x' }] } },
      { config: { exec: [{ index: '-1', args: ['true'] }] } },
      { config: { exec: [{ index: '9223372036854775807', args: [] }] } },
      { config: { exec: [{ index: '7', args: ['true'] }, { index: '7', args: ['false'] }] } },
      { config: { exec: [{ index: '8', args: ['true'], pty: { enable: true, term: '', window_size: { rows: -5, cols: 2147483647 } } }] } },
      { config: { url_service: { control_addr: '', token: '', labels: '' }, file_change_signal: 'SIGNOPE' } },
    ];
    const h = await hostile({ configs: absurd }, dir);
    await waitFor(() => count(h.stderr(), 'config refused') >= 3, { what: () => 'the refusals' });
    h.server.push(GARBAGE); // malformed: the session ends (INTERNAL) and a new one opens
    await waitFor(() => h.server.registrations() >= 2, { timeoutMs: 15_000, what: () => 'a reconnect after the malformed config' });
    expect(h.stderr()).toMatch(/lost the server connection; reconnecting .*INTERNAL/);
    await survived(h, dir);
  });
});

describe('fault isolation: the exec path', () => {
  it('absurd exec messages, a handler that throws, malformed bytes: only that exec stream goes', async () => {
    const execs: grpcTypes.ServerDuplexStream<unknown, Reply>[] = [];
    const results = new Map<string, string[]>();
    const h = await hostile(
      {
        configs: [{ config: { exec: [{ index: '1', args: ['sleep', '30'] }] } }],
        exec: (call) => {
          execs.push(call);
          call.on('error', () => {});
          let index = '';
          call.on('data', (m: { event?: string; open?: { index: string }; output?: { data: Buffer } }) => {
            if (m.event === 'open') {
              index = m.open!.index;
              results.set(index, []);
              if (index === '3') return void call.write(GARBAGE);
              call.write({ opened: true });
              call.write({ opened: true }); // a second one
              call.write({ winch: { rows: -1, cols: 2147483647, width: -7, height: 0 } });
              call.write({ input_eof: {} });
              call.write({ input_eof: {} });
              if (index === '1') call.write({ input: Buffer.from(`x ${MARKER}`) });
            } else if (m.event) {
              results.get(index)!.push(m.event === 'output' ? `output:${m.output!.data}` : m.event);
            }
          });
        },
      },
      dir,
    );
    await waitFor(() => /stream=EntrypointExecStream error="injected fault/.test(h.stderr()), { what: () => 'the exec fault' });
    await waitFor(() => /exec session ended index=1 .*error=/.test(h.stderr()), { what: () => 'the exec session dropped' });
    // Index 1 again (reuse: not run twice), 2 an ordinary command, 3 answered with garbage.
    h.server.push({ config: { exec: [{ index: '1', args: ['sleep', '30'] }, { index: '2', args: ['echo', 'still works'] }, { index: '3', args: ['true'] }] } });
    await waitFor(() => (results.get('2') ?? []).includes('exit'), { what: () => `exec 2's exit; stderr: ${h.stderr().slice(-600)}` });
    expect(results.get('2')).toContain('output:still works\n');
    await waitFor(() => /exec session ended index=3 .*error=/.test(h.stderr()), { what: () => 'exec 3 ended by its malformed answer' });
    expect(execs).toHaveLength(3);
    // Stream faults cost the stream only: the session, and with it logs and config, stayed.
    expect(h.server.registrations()).toBe(1);
    await survived(h, dir);
  });
});

describe('fault isolation: the URL path', () => {
  it('a Register or Connect handler that throws, garbage tunnel frames, a failure on the app side: the tunnel recovers', async () => {
    let registers = 0;
    const echoed: Buffer[] = [];
    const h = await hostile(
      {
        configs: [{ config: { url_service: { control_addr: '', token: 't', labels: '' } } }],
        register: (call) => {
          call.on('error', () => {});
          registers++;
          if (registers === 1) return void call.write({ registered: { urls: [`http://${MARKER}.test`] } });
          if (registers === 2) return void call.write(GARBAGE); // a malformed Register message
          call.write({ registered: { urls: ['http://ok.test'] } });
          const ids = registers === 3 ? ['c-garbage', 'c-marker', 'c-dup', 'c-dup', '', 'c-magic'] : ['c-echo'];
          for (const id of ids) call.write({ open: { connection_id: id } });
        },
        connect: (call) => {
          call.on('error', () => {});
          call.on('data', (m: { event?: string; accept?: { connection_id: string }; data?: Buffer }) => {
            const id = m.accept?.connection_id;
            if (id === 'c-garbage') call.write(GARBAGE);
            else if (id === 'c-marker') call.write({ data: Buffer.from(MARKER) });
            else if (id === 'c-magic') call.write({ data: Buffer.from('MAGIC') });
            else if (id === 'c-echo') call.write({ data: Buffer.from('hello') });
            else if (m.event === 'data') echoed.push(m.data!);
          });
        },
      },
      dir,
    );
    await waitFor(() => /stream=Register error="injected fault/.test(h.stderr()), { what: () => 'the Register fault' });
    await waitFor(() => /URL service registration (ended|failed again); registering again .*INTERNAL/.test(h.stderr()), { what: () => 'the malformed Register' });
    await waitFor(() => /stream=Connect error="injected fault/.test(h.stderr()), { what: () => 'the Connect fault' });
    // The app's own answer carried the marker: the socket's handler threw outside any dispatch.
    await waitFor(() => /error: internal error \(uncaught exception\); the server connection is re-established/.test(h.stderr()), {
      what: () => `the last resort; stderr: ${h.stderr().slice(-600)}`,
    });
    await waitFor(() => h.server.registrations() >= 2, { timeoutMs: 15_000, what: () => 'the new session' });
    await waitFor(() => Buffer.concat(echoed).toString() === 'hello', { timeoutMs: 15_000, what: () => 'an echo through the tunnel' });
    await survived(h, dir);
  });
});

describe('fault isolation: the logs path', () => {
  it('a malformed answer, a refusal whose text makes shipping throw: shipping resumes and reports it', async () => {
    let streams = 0;
    const lines: string[] = [];
    const h = await hostile(
      {
        logs: (call, answer) => {
          call.on('error', () => {});
          streams++;
          if (streams === 1) return answer(null, GARBAGE);
          if (streams === 2) return answer({ code: 9, details: `refused ${MARKER}` });
          call.on('data', (batch: { lines: Array<{ line: string }> }) => lines.push(...batch.lines.map((l) => l.line)));
          call.on('end', () => answer(null, {}));
        },
      },
      dir,
    );
    await waitFor(() => /error: internal error \(unhandled rejection\)/.test(h.stderr()), {
      timeoutMs: 15_000,
      what: () => `the last resort; stderr: ${h.stderr().slice(-600)}`,
    });
    expect(h.stderr()).toMatch(/the log stream broke.*INTERNAL|the server refused our log stream.*INTERNAL/);
    await waitFor(() => lines.some((l) => l.includes('internal error (unhandled rejection)')), {
      timeoutMs: 15_000,
      what: () => 'the report of the fault at the server',
    });
    expect(h.server.registrations()).toBeGreaterThanOrEqual(2);
    await survived(h, dir);
  });
});
