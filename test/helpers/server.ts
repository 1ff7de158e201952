// The real reference server as a process for tests: `waypoint-ctl server run` on 127.0.0.1
// (a free port), a temp data dir and a temp XDG_CONFIG_HOME, optionally TLS with a self-signed
// certificate made here. Call `stopServers()` in afterEach: it kills them and removes their dirs.
// With WAYPOINT_TEST_STORE=postgres (vitest.postgres.config.ts) each server keeps its state in a
// database of its own (`--database`, store.ts) instead of the data dir.
//
//   const server = await startServer();
//   const { deploymentId, inviteToken } = await server.createDeployment('app');
//   ... WAYPOINT_SERVER_ADDR=server.addr ...
//   await server.restart();            // killed, started again: same port, same data dir
//   const inst = await server.connectInstance('app');  // a raw gRPC client as a fake entrypoint
//   await server.ctl(['config', 'set', '--app', 'app', 'A=1']);
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { InstanceInfo__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/InstanceInfo.js';
import type { WaypointClient } from '../../src/protocol/generated/hashicorp/waypoint/Waypoint.js';
import type { ControlClient } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/Control.js';
import { ulid } from '../../src/ids.js';
import {
  type ClientTls,
  type ConfigStream,
  controlClient,
  convertInviteToken,
  createDeployment,
  type grpc,
  listInstances,
  type LogStream,
  md,
  openConfig,
  openLogStream,
  waypointClient,
} from './grpc.js';
import { cleanEnv, type Exit, ROOT, run, type Running, start, withDeadline } from './run.js';
import { newStoreLocation } from './store.js';

export const CTL = path.join(ROOT, 'bin/waypoint-ctl');

export interface TestTls {
  certFile: string;
  keyFile: string;
  /** The self-signed certificate itself: what a client trusts. */
  caFile: string;
}

export interface StartServerOptions {
  /** TLS with a fresh self-signed certificate for 127.0.0.1 and localhost. */
  tls?: boolean;
  /** Interval of inline keepalives (default: the server's 5 s). */
  keepaliveMs?: number;
  /** Interval of the server's HTTP/2 pings to clients (default 30 s); an unanswered one cuts the peer. */
  http2KeepaliveMs?: number;
  /** A fixed port (e.g. from freePort(), to start the server after its clients); default any. */
  port?: number;
  /** More environment for the server process. */
  env?: NodeJS.ProcessEnv;
  /** More arguments of `server run` (e.g. --url-request-timeout 1s). */
  args?: string[];
  /** The HTTP ingress: false for `--http-listen off`; default on, any free port (kept across restarts). */
  http?: boolean;
  /** Runs the server under this open-file limit (soft and hard, set by the shell's ulimit). */
  nofile?: number;
  /** This PostgreSQL database (e.g. one `server migrate` filled) instead of the run's store. */
  databaseUrl?: string;
  /** The operator token of state made before (a start on it prints none). */
  operatorToken?: string;
  /** The loopback address both listeners bind (default 127.0.0.1; e.g. 127.0.0.2 for a second host). */
  host?: string;
}

/** A raw gRPC client registered as an instance: what the server sees of an entrypoint. */
export interface FakeInstance {
  id: string;
  app: string;
  deploymentId: string;
  /** Its entrypoint token. */
  token: string;
  wp: WaypointClient;
  /** Its open EntrypointConfig stream, recording every config pushed. */
  config: ConfigStream;
  /** Opens a log stream with its token. */
  logs(): LogStream;
}

export interface ConnectOptions {
  /** An existing deployment (with one of its entrypoint tokens); default: a new one of the app. */
  deploymentId?: string;
  token?: string;
  instanceId?: string;
  /** Labels of the new deployment. */
  labels?: Record<string, string>;
}

export interface TestServer {
  /** 127.0.0.1:<port> */
  addr: string;
  port: number;
  /** 127.0.0.1:<port> of the HTTP ingress (the URL service); undefined when off. */
  httpAddr?: string;
  httpPort?: number;
  operatorToken: string;
  /** Its --data-dir: the state and the signing key on SQLite (unused on PostgreSQL). */
  dataDir: string;
  /** Its --database on PostgreSQL (WAYPOINT_TEST_STORE=postgres); undefined on SQLite. */
  databaseUrl?: string;
  /** XDG_CONFIG_HOME of the server, where it wrote its context file. */
  configHome: string;
  contextFile: string;
  tls?: TestTls;
  /** What a gRPC client needs to trust the server (undefined: plaintext). */
  clientTls?: ClientTls;
  proc: Running;
  /** A clean environment whose XDG_CONFIG_HOME is the server's: the ctl finds it from there. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  createDeployment(app: string, labels?: Record<string, string>): Promise<{ deploymentId: string; inviteToken: string }>;
  instances(app?: string): Promise<InstanceInfo__Output[]>;
  /** Operator metadata for control calls. */
  operator(): grpc.Metadata;
  /** A control client, closed by stopServers(). */
  control(): ControlClient;
  /** Enrols (unless given a deployment and token) and opens a config stream; waits for its first config. */
  connectInstance(app: string, opts?: ConnectOptions): Promise<FakeInstance>;
  /** Runs the ctl to completion against this server (its context file). */
  ctl(args: string[], opts?: { env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<Exit & { stdout: Buffer; stderr: Buffer }>;
  /** Starts the ctl and leaves it running (e.g. logs -f); killAll() ends it. */
  startCtl(args: string[], env?: NodeJS.ProcessEnv): Running;
  /** Stops the process (SIGTERM: clean shutdown; SIGKILL: a crash) and waits for its exit. */
  stop(opts?: { signal?: NodeJS.Signals }): Promise<Exit>;
  /** Stops it (default SIGKILL) if running and starts it again on the same port and data dir. */
  restart(opts?: { signal?: NodeJS.Signals }): Promise<void>;
}

const servers = new Set<TestServer>();
const dirs = new Set<string>();
const clients = new Set<grpc.Client>();

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A self-signed certificate (EC P-256) for 127.0.0.1 and localhost, made with openssl. */
export function selfSignedCert(dir: string): TestTls {
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', keyFile, '-out', certFile],
    { stdio: 'pipe' },
  );
  return { certFile, keyFile, caFile: certFile };
}

export async function startServer(opts: StartServerOptions = {}): Promise<TestServer> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'wp-server-test-'));
  dirs.add(root);
  const location = opts.databaseUrl ? { dataDir: path.join(root, 'data'), databaseUrl: opts.databaseUrl } : await newStoreLocation(root);
  const { dataDir, databaseUrl } = location;
  const configHome = path.join(root, 'config');
  mkdirSync(configHome);
  const tls = opts.tls ? selfSignedCert(root) : undefined;
  const clientTls = tls && { caFile: tls.caFile };
  const env = (extra: NodeJS.ProcessEnv = {}) => cleanEnv({ XDG_CONFIG_HOME: configHome, ...extra });

  const host = opts.host ?? '127.0.0.1';
  const listening = (what: string) => new RegExp(`${what} on (${host.replace(/\./g, '\\.')}:(\\d+))`);
  const launch = async (port: number, httpPort: number) => {
    const args = ['server', 'run', '--listen', `${host}:${port}`, '--data-dir', dataDir, ...(databaseUrl ? ['--database', databaseUrl] : [])];
    args.push('--http-listen', opts.http === false ? 'off' : `${host}:${httpPort}`, ...(opts.args ?? []));
    if (tls) args.push('--tls-cert', tls.certFile, '--tls-key', tls.keyFile);
    if (opts.keepaliveMs !== undefined) args.push('--inline-keepalive-interval', `${opts.keepaliveMs}ms`);
    if (opts.http2KeepaliveMs !== undefined) args.push('--keepalive-time', `${opts.http2KeepaliveMs}ms`);
    const proc =
      opts.nofile === undefined
        ? start(args, { bin: CTL, env: env(opts.env) })
        : start(['-c', `ulimit -n ${opts.nofile} && exec "$0" "$@"`, CTL, ...args], { bin: '/bin/sh', env: env(opts.env) });
    // Settled either way, so that neither loser of the race is left rejecting unhandled.
    const ready = proc.waitForOutput(listening('listening')).then(
      () => 'ready' as const,
      (err: Error) => err,
    );
    const first = await Promise.race([ready, proc.exited]);
    if (first instanceof Error) throw first;
    if (first !== 'ready') {
      throw new Error(`server exited (${first.code ?? first.signal}) before listening: ${proc.stderr().toString().trim()}`);
    }
    return proc;
  };

  let proc = await launch(opts.port ?? 0, 0);
  const port = Number(listening('listening').exec(proc.stdout().toString())![2]);
  const http = listening('http listening').exec(proc.stdout().toString());
  const httpPort = http ? Number(http[2]) : undefined;
  const token = opts.operatorToken ? [opts.operatorToken, opts.operatorToken] : /operator token (\S+)/.exec(proc.stdout().toString());
  if (!token) throw new Error(`the server printed no operator token: ${proc.stdout().toString()}`);
  const addr = `${host}:${port}`;
  const contextFile = path.join(configHome, 'waypoint-ctl', 'context.json');
  const operator = md({ token: token[1] });

  const stop = async ({ signal = 'SIGTERM' as NodeJS.Signals } = {}) => {
    if (proc.proc.exitCode === null && proc.proc.signalCode === null) proc.proc.kill(signal);
    return withDeadline(proc.exited, 10_000, 'the server to exit');
  };

  const server: TestServer = {
    addr,
    port,
    httpAddr: http?.[1],
    httpPort,
    operatorToken: token[1],
    dataDir,
    databaseUrl,
    configHome,
    contextFile,
    tls,
    clientTls,
    get proc() {
      return proc;
    },
    env,
    async createDeployment(app, labels = {}) {
      const client = controlClient(addr, clientTls);
      try {
        const res = await createDeployment(client, app, labels, operator);
        return { deploymentId: res.deployment!.id, inviteToken: res.invite_token };
      } finally {
        client.close();
      }
    },
    async instances(app = '') {
      const client = controlClient(addr, clientTls);
      try {
        return (await listInstances(client, operator, app)).instances;
      } finally {
        client.close();
      }
    },
    operator: () => operator,
    control() {
      const client = controlClient(addr, clientTls);
      clients.add(client);
      return client;
    },
    async connectInstance(app, opts = {}) {
      const wp = waypointClient(addr, clientTls);
      clients.add(wp);
      let { deploymentId, token } = opts;
      if (!deploymentId || !token) {
        const created = await server.createDeployment(app, opts.labels);
        deploymentId = created.deploymentId;
        token = (await convertInviteToken(wp, created.inviteToken)).token;
      }
      const id = opts.instanceId ?? ulid();
      const config = openConfig(wp, { deployment_id: deploymentId, instance_id: id, type: 'LONG_RUNNING' }, md({ token }));
      await config.waitForMessages(1);
      if (config.error) throw new Error(`the config stream of ${id} failed: ${config.error.details}`);
      const t = token;
      return { id, app, deploymentId, token, wp, config, logs: () => openLogStream(wp, md({ token: t })) };
    },
    ctl: (args, { env: extra = {}, timeoutMs } = {}) => run(args, { bin: CTL, env: env(extra), timeoutMs }),
    startCtl: (args, extra = {}) => start(args, { bin: CTL, env: env(extra) }),
    stop,
    async restart({ signal = 'SIGKILL' } = {}) {
      await stop({ signal });
      proc = await launch(port, httpPort ?? 0);
    },
  };
  servers.add(server);
  return server;
}

/** For afterEach: kills every server a test started and removes their directories. */
export async function stopServers(): Promise<void> {
  for (const c of clients) c.close();
  clients.clear();
  await Promise.all([...servers].map((s) => s.stop({ signal: 'SIGKILL' }).catch(() => undefined)));
  servers.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** The server's token signing key: its data dir's file on SQLite, its database's row on PostgreSQL. */
export async function serverSigningKey(server: TestServer): Promise<Buffer> {
  if (!server.databaseUrl) return Buffer.from(readFileSync(path.join(server.dataDir, 'signing.key'), 'utf8').trim(), 'hex');
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: server.databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ key: Buffer }>("SELECT key FROM server_keys WHERE name = 'signing'");
    return rows[0].key;
  } finally {
    await client.end();
  }
}

/** The context file the server wrote. */
export function readContextFile(server: TestServer): Record<string, unknown> {
  return JSON.parse(readFileSync(server.contextFile, 'utf8')) as Record<string, unknown>;
}

/** One record of the server's log (pino's JSON line: level, time, name, msg and our fields). */
export type LogRecord = Record<string, unknown> & { level: number; time: number; msg: string };

/** The records of a server's stderr (JSON: not a terminal); a line that is not JSON fails the test. */
export function logRecords(stderr: Buffer | string): LogRecord[] {
  return stderr
    .toString()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogRecord;
      } catch {
        throw new Error(`a line of the server's stderr is not JSON: ${l}`);
      }
    });
}
