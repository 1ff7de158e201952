// `waypoint-ctl server run`: the reference server in the foreground, until SIGINT or SIGTERM.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isatty } from 'node:tty';
import { writeLine } from '../../log.js';
import { DEFAULT_LISTEN, ListenError, localAddress, parseAdvertise, parseListen } from '../../rules/listen.js';
import { parseDuration, parseLogLevel, parseSize, SettingsError } from '../../settings.js';
import { DEFAULT_INSTANCE_LIMITS, type ReplicaOptions } from '../../server/options.js';
import { type Context, contextPath, writeContext } from '../context.js';
import { CtlError, UsageError } from '../errors.js';
import { parseInviteTtl } from '../invite-ttl.js';
import { defaultLogFormat, parseServerLogFormat, pinoServerLog } from '../log.js';
import { type ConsoleFlags, consoleOptions, type HttpFlags, httpOptions, withConsoleOptions, withHttpOptions } from './http-options.js';
import { isSelfSigned } from '../tls.js';
import { serverMigrateCommand } from './server-migrate.js';
import { serverReplicasCommand } from './server-replicas.js';
import { DATABASE_URL_ENV, databaseUrl } from '../database-url.js';

declare const __VERSION__: string;

/** The interval of inline keepalives, also settable from the environment (tests shorten it). */
export const INLINE_KEEPALIVE_ENV = 'WAYPOINT_SERVER_INLINE_KEEPALIVE_INTERVAL';
/** How long an instance has to open an exec session, also from the environment (tests shorten it). */
export const EXEC_OPEN_TIMEOUT_ENV = 'WAYPOINT_SERVER_EXEC_OPEN_TIMEOUT';
/** How long a stream may take to send its first message (Exec's start, ...), also from the environment (tests shorten it). */
export const FIRST_MESSAGE_TIMEOUT_ENV = 'WAYPOINT_SERVER_FIRST_MESSAGE_TIMEOUT';
/** How long a config may wait for an instance that does not read, also from the environment (tests shorten it). */
export const CONFIG_STALL_TIMEOUT_ENV = 'WAYPOINT_SERVER_CONFIG_STALL_TIMEOUT';
const MIN_DURATION_MS = 10;
/** Below this, one busy instance's newest lines would push out everyone else's. */
const MIN_LOG_MEMORY_BYTES = 1024 * 1024;

interface RunOptions extends HttpFlags, ConsoleFlags {
  listen: string;
  dataDir: string;
  database?: string;
  advertise?: string;
  replicaTimeout: string;
  tlsCert?: string;
  tlsKey?: string;
  inlineKeepaliveInterval?: string;
  keepaliveTime: string;
  execOpenTimeout?: string;
  firstMessageTimeout?: string;
  configStallTimeout?: string;
  context: boolean;
  logLevel: string;
  logFormat?: string;
  inviteTtl: string;
  maxInstancesPerDeployment: string;
  maxInstancesPerToken: string;
  logMemory: string;
}

export function serverCommand(program: Command): void {
  const server = program.command('server').description('the reference control server');
  const run = server
    .command('run')
    .description('run the server in the foreground until Ctrl-C or SIGTERM')
    .option('--listen <host:port>', 'where to listen for gRPC (port 0: any free port)', DEFAULT_LISTEN)
    .option('--data-dir <dir>', 'where the state (SQLite) and the token signing key live, without --database', './.waypoint')
    .option('--database <url>', `keep the state and the signing key in PostgreSQL instead (postgres://user:password@host:5432/db; default: $${DATABASE_URL_ENV})`)
    .option('--advertise <host:port>', 'with --database: where the other replicas reach this one\'s gRPC listener (default: the listen address, or this machine\'s name when it listens on every interface)')
    .option('--replica-timeout <duration>', 'with --database: a replica this long without a heartbeat is taken as gone (heartbeats every fifth of it)', '10s')
    .option('--tls-cert <file>', 'serve TLS with this PEM certificate chain (with --tls-key)')
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--inline-keepalive-interval <duration>', `inline keepalives for clients that ask (default: $${INLINE_KEEPALIVE_ENV}, else 5s)`)
    .option('--keepalive-time <duration>', 'interval of HTTP/2 pings that detect dead clients', '30s')
    .option('--exec-open-timeout <duration>', `how long an instance has to open an exec session (default: $${EXEC_OPEN_TIMEOUT_ENV}, else 10s)`)
    .option('--first-message-timeout <duration>', `how long an exec or tunnel stream may take to send its first message (default: $${FIRST_MESSAGE_TIMEOUT_ENV}, else 5s)`)
    .option('--invite-ttl <duration>', 'how long a new invite can be exchanged unless deployment create/invite says: a duration (90m, 168h) or "never"', '24h')
    .option('--config-stall-timeout <duration>', `drop an instance whose config stream is not read for this long (default: $${CONFIG_STALL_TIMEOUT_ENV}, else 30s)`)
    .option('--max-instances-per-deployment <n>', 'live instances one deployment may have at once; more are refused', String(DEFAULT_INSTANCE_LIMITS.perDeployment))
    .option('--max-instances-per-token <n>', 'live instances one entrypoint token may register at once', String(DEFAULT_INSTANCE_LIMITS.perToken))
    .option('--log-memory <size>', "memory for all instances' log lines together (e.g. 512MiB); past it the oldest go", '512MiB')
    .option('--no-context', 'do not write the context file the other commands read')
    .option('--log-level <level>', 'trace, debug (every RPC with its duration), info (with the operator audit trail), warn or error', 'info')
    .option('--log-format <format>', 'json (one pino JSON line per record) or pretty (for a person); default: pretty on a terminal, else json');
  withConsoleOptions(withHttpOptions(run)).action((opts: RunOptions) => runServer(opts));
  serverMigrateCommand(server);
  serverReplicasCommand(server);
}

async function runServer(opts: RunOptions): Promise<void> {
  const listen = checked(() => parseListen(opts.listen));
  const logLevel = checked(() => parseLogLevel('--log-level', opts.logLevel));
  const logFormat = opts.logFormat === undefined ? defaultLogFormat(isatty(2)) : parseServerLogFormat('--log-format', opts.logFormat);
  const log = pinoServerLog({ level: logLevel, format: logFormat });
  const inlineKeepaliveMs = keepaliveInterval(opts.inlineKeepaliveInterval);
  const execOpenTimeoutMs = durationFlag('--exec-open-timeout', opts.execOpenTimeout, EXEC_OPEN_TIMEOUT_ENV);
  const firstMessageTimeoutMs = durationFlag('--first-message-timeout', opts.firstMessageTimeout, FIRST_MESSAGE_TIMEOUT_ENV);
  const configStallMs = durationFlag('--config-stall-timeout', opts.configStallTimeout, CONFIG_STALL_TIMEOUT_ENV);
  const keepaliveTimeMs = checked(() => parseDuration('--keepalive-time', opts.keepaliveTime));
  if (keepaliveTimeMs < MIN_DURATION_MS) throw new UsageError(`--keepalive-time must be at least ${MIN_DURATION_MS}ms`);
  const inviteTtlSeconds = parseInviteTtl('--invite-ttl', opts.inviteTtl);
  const http = httpOptions(opts);
  const webConsole = consoleOptions(opts, http);
  const instanceLimits = {
    perDeployment: countFlag('--max-instances-per-deployment', opts.maxInstancesPerDeployment),
    perToken: countFlag('--max-instances-per-token', opts.maxInstancesPerToken),
  };
  const logMemoryBytes = checked(() => parseSize('--log-memory', opts.logMemory));
  if (logMemoryBytes < MIN_LOG_MEMORY_BYTES) throw new UsageError(`--log-memory must be at least ${MIN_LOG_MEMORY_BYTES / 1024 / 1024}MiB`);
  const tls = readTls(opts.tlsCert, opts.tlsKey);
  const replica = replicaOptions(opts);
  // Handlers first: whoever reads "listening on" may signal us at once, and a signal that
  // arrives before a handler exists kills the process without a clean stop.
  const stopSignal = untilStopSignal();

  const { startServer } = await import('../../server/server.js');
  const server = await startServer({
    listen: listen.bind,
    dataDir: opts.dataDir,
    databaseUrl: databaseUrl(opts.database),
    tls: tls && { cert: tls.cert, key: tls.key },
    version: __VERSION__,
    log,
    rpcRecords: logLevel === 'debug' || logLevel === 'trace',
    inlineKeepaliveMs,
    keepaliveTimeMs,
    execOpenTimeoutMs,
    firstMessageTimeoutMs,
    configStallMs,
    http,
    inviteTtlSeconds,
    instanceLimits,
    logMemoryBytes,
    console: webConsole,
    replica,
  }).catch((err: Error) => {
    throw new CtlError(err.message);
  });

  const [host, port] = splitAddress(server.address);
  const context: Context = {
    server_addr: localAddress(host, port),
    token: server.operatorToken,
    ...(tls && { tls: tls.selfSigned ? { ca_file: tls.certFile } : {} }),
  };
  const file = contextPath();
  const out: string[] = [
    `listening on ${server.address} (gRPC, ${tls ? 'TLS' : 'plaintext'})`,
  ];
  if (server.httpAddress && server.urls) {
    out.push(`http listening on ${server.httpAddress} (URL service: ${server.urls.appUrl('<app>')})`);
  }
  if (server.consoleUrl) out.push(`console: ${server.consoleUrl}`);
  out.push(server.storeLocation);
  if (server.replicas.shared) out.push(`replica ${server.replicas.self.id} (the others reach it at ${server.replicas.self.grpcAddress})`);
  if (server.firstStart) out.push(`operator token ${server.operatorToken} (shown on first start only)`);
  if (opts.context) {
    writeContext(file, context);
    out.push(`context ${file} (the other waypoint-ctl commands on this machine read it)`);
  }
  writeLine(1, out.map((l) => `${l}\n`).join(''));

  await stopSignal;
  log.info('stopping');
  await server.stop();
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function untilStopSignal(): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(signal === 'SIGINT' ? 130 : 143);
      stopping = true;
      resolve();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** --advertise checked now (a typo is a usage error, not a failed start); the heartbeat a fifth of the timeout. */
function replicaOptions(opts: RunOptions): ReplicaOptions {
  if (opts.advertise !== undefined) checked(() => parseAdvertise(opts.advertise!));
  const timeoutMs = checked(() => parseDuration('--replica-timeout', opts.replicaTimeout));
  if (timeoutMs < 500) throw new UsageError('--replica-timeout must be at least 500ms');
  return { advertise: opts.advertise, timeoutMs, heartbeatMs: Math.max(100, Math.floor(timeoutMs / 5)) };
}

function keepaliveInterval(flag: string | undefined): number | undefined {
  return durationFlag('--inline-keepalive-interval', flag, INLINE_KEEPALIVE_ENV);
}

/** A duration from its flag, else its environment variable; undefined when neither is set. */
function durationFlag(flagName: string, flag: string | undefined, env: string): number | undefined {
  const [name, value] = flag !== undefined ? [flagName, flag] : [env, process.env[env]];
  if (!value) return undefined;
  const ms = checked(() => parseDuration(name, value));
  if (ms < MIN_DURATION_MS) throw new UsageError(`${name} must be at least ${MIN_DURATION_MS}ms`);
  return ms;
}

/** A whole number of at least 1. */
function countFlag(name: string, value: string): number {
  const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a whole number of at least 1, got ${JSON.stringify(value)}`);
  return n;
}

function readTls(certFile?: string, keyFile?: string) {
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) throw new UsageError('TLS needs both --tls-cert and --tls-key');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new CtlError(`cannot read the TLS ${what} ${file}: ${(err as Error).message}`);
    }
  };
  const cert = read(certFile, 'certificate');
  return { cert, key: read(keyFile, 'key'), certFile: path.resolve(certFile), selfSigned: isSelfSigned(cert) };
}

function checked<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof SettingsError || err instanceof ListenError) throw new UsageError(err.message);
    throw err;
  }
}

function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}
