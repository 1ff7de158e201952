// The orchestrator: the only module that knows all the others. It wires the supervisor
// (signals, reaping, exit status) and, in connected mode, the server connection (fail-open),
// the app config it brings (env, files, restarts), log shipping, exec sessions, the URL
// service's tunnel and the app's status.
import { monotonicMs } from './clock.js';
import { AppEnv, sameEnv } from './config/app-env.js';
import type { ConfigApplier, Connection, Exec, ExecHost, Logs, RestartScheduler, UrlService } from './connection/index.js';
import type { Logger } from './log.js';
import { eraseFromEnviron } from './native/environ.js';
import { setNativeDir } from './native/load.js';
import { isTerminal, posix } from './native/posix.js';
import { isConnected, type Settings } from './settings.js';
import { SpawnError } from './supervisor/child.js';
import { childEnv } from './supervisor/env.js';
import { loadNodePty } from './supervisor/node-pty.js';
import { ChildExits } from './supervisor/child-exits.js';
import { startReaper } from './supervisor/reaper.js';
import { AppLifecycle } from './supervisor/lifecycle.js';
import { exitStatus, FORWARDED_SIGNALS, STOP_SIGNALS } from './supervisor/signals.js';
import { Supervisor } from './supervisor/supervisor.js';
import { VERSION } from './version.js';

export interface EntrypointOptions {
  /** The app's command and arguments, verbatim. */
  argv: string[];
  settings: Settings;
  logger: Logger;
}

/** Exit status when the server is required and cannot ever be reached (not the app's). */
const EXIT_UNUSABLE = 1;
/** At exit, how long the last log lines may take to reach the server. */
const LOG_FLUSH_MS = 2_000;
/** At exit, how long exec sessions may take to tell the server we are going. */
const EXEC_SHUTDOWN_MS = 500;
const INVITE_VAR = 'WAYPOINT_CEB_INVITE_TOKEN';

/** What connected mode adds around the app. */
interface Connected {
  connection: Connection;
  applier: ConfigApplier;
  logs: Logs;
  restarts: RestartScheduler;
  exec: Exec;
  url: UrlService;
}

/** What the connected parts act on. */
interface AppParts {
  supervisor: Supervisor;
  app: AppLifecycle;
  appEnv: AppEnv;
  /** The SIGCHLD dispatcher, lent to exec. */
  exits: ChildExits;
}

/** Runs the app to completion and resolves with the exit status we should exit with. */
export async function runEntrypoint({ argv, settings, logger }: EntrypointOptions): Promise<number> {
  // The connect window counts from here, before gRPC is even loaded.
  const startedAt = monotonicMs();
  setNativeDir(settings.nativeDir);
  if (isConnected(settings) && settings.inviteToken) eraseInvite(logger);
  // The one SIGCHLD listener of the process: the reaper, the app and exec all go through it.
  const exits = new ChildExits();
  startReaper({ asSubreaper: settings.subreaper, logger, exits });

  const supervisor = new Supervisor({
    argv,
    cwd: process.cwd(),
    stopTimeoutMs: settings.stopTimeoutMs,
    signalGroup: settings.signalGroup,
    // Not process.stdin/stdout.isTTY: those getters build streams we do not otherwise need.
    terminal: isTerminal(0) && isTerminal(1),
    // Disabled mode ships no logs: the app writes to our stdout and stderr itself, as under tini.
    output: isConnected(settings) ? 'relay' : 'direct',
    logger,
    exits,
  });

  const app = new AppLifecycle(supervisor, logger);
  // The env the app starts with; config from the server goes on top of it.
  const appEnv = new AppEnv(childEnv(process.env, settings.port));

  // Handlers go in before the child exists: as PID 1 an unhandled SIGTERM is simply ignored
  // by the kernel, and a signal arriving during start-up must not be lost.
  let onStop: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => (onStop = resolve));
  let connected: Connected | undefined;
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      if (STOP_SIGNALS.includes(signal)) {
        onStop(signal);
        connected?.restarts.close();
        connected?.url.close(); // no new request for an app that is stopping
        app.stop(signal);
      } else {
        app.forward(signal);
      }
    });
  }

  if (isConnected(settings)) {
    const result = await connect(settings, logger, startedAt, stopped, { supervisor, app, appEnv, exits });
    if (typeof result === 'number') return result;
    connected = result;
  }
  try {
    return await runApp({ supervisor, app, appEnv, exits }, logger, connected);
  } finally {
    if (connected) {
      // Before the logs' flush: the sessions' last audit lines go with it.
      await connected.exec.shutdown(EXEC_SHUTDOWN_MS);
      connected.applier.close();
      await connected.logs.flush(LOG_FLUSH_MS);
      connected.connection.close();
    }
  }
}

/**
 * The invite, read into the settings, leaves our environment block before the app exists:
 * the app runs under our uid and could read it from /proc/<our pid>/environ and register as
 * this deployment (or read its internal config). The entrypoint keeps it in memory only.
 */
function eraseInvite(logger: Logger): void {
  const result = eraseFromEnviron(INVITE_VAR);
  if (!result.ok) {
    logger.warn(`${INVITE_VAR} could not be erased from our environment block; processes of our uid can read it in /proc`, {
      why: result.why,
    });
  }
}

/**
 * Starts the connection and waits for the moment the app may start. Returns the connection, or
 * the exit status when we must exit without starting the app.
 */
async function connect(
  settings: Settings,
  logger: Logger,
  startedAt: number,
  stopped: Promise<NodeJS.Signals>,
  parts: AppParts,
): Promise<Connected | number> {
  // Lazily: this is where @grpc/grpc-js gets loaded, never in disabled mode.
  const chunk = await import('./connection/index.js');
  const { startConnection, waitForFirstConfig } = chunk;
  const windowEnd = startedAt + settings.connectTimeoutMs;
  let appWaiting = true;
  const connection = startConnection({
    settings: { ...settings, serverAddr: settings.serverAddr! },
    logger,
    version: VERSION,
    fastUntil: windowEnd,
    appWaiting: () => appWaiting && settings.serverRequired,
  });
  // From here on, nothing that arrives over the connection may end us (and the app with us).
  chunk.installLastResort({ connection, logger });
  const connected = wire(chunk, connection, settings, logger, parts);
  let configIn = false;
  const { reason, error } = await waitForFirstConfig({
    // The config applied, its dynamic vars read once (or failed): within the same window.
    firstConfig: connection.firstConfig.then(() => {
      configIn = true;
      return connected.applier.settled();
    }),
    remainingMs: windowEnd - monotonicMs(),
    required: settings.serverRequired,
    stopped,
  });
  appWaiting = false;
  switch (reason) {
    case 'config':
      logger.debug('starting the app with its config', { after_ms: Math.round(monotonicMs() - startedAt) });
      return connected;
    case 'timeout':
      if (configIn) {
        logger.warn('dynamic config vars not read in time; starting the app without the ones still missing (they follow with a restart)', {
          timeout_ms: settings.connectTimeoutMs,
        });
        return connected;
      }
      logger.warn('no config from the server in time; starting the app without it (retrying in the background)', {
        server: settings.serverAddr,
        timeout_ms: settings.connectTimeoutMs,
      });
      return connected;
    case 'stopped': {
      connected.restarts.close();
      await connected.exec.shutdown(EXEC_SHUTDOWN_MS);
      connection.close();
      const signal = await stopped;
      logger.debug('stopped while waiting for the server; the app was never started', { signal });
      return exitStatus(null, signal);
    }
    case 'unusable':
      if (settings.serverRequired) {
        logger.error('the server is required but cannot be connected to', { error: error?.message });
        return EXIT_UNUSABLE;
      }
      return connected;
  }
}

/**
 * Config, logs, exec, URLs and the app status on the connection. Subscribed before the first
 * config can arrive, so that it is applied to the app's first start (no restart).
 */
function wire(
  chunk: typeof import('./connection/index.js'),
  connection: Connection,
  settings: Settings,
  logger: Logger,
  { supervisor, app, appEnv, exits }: AppParts,
): Connected {
  const logs = chunk.startLogs({ instanceId: connection.instanceId, bufferBytes: settings.logBufferBytes, logger });
  supervisor.tapOutput(logs.newTaps);
  logger.addSink(logs.recordSink);
  connection.onSession((session) => logs.attach(session));

  const restarts = new chunk.RestartScheduler({
    quietMs: chunk.DEFAULT_QUIET_MS,
    maxWaitMs: chunk.DEFAULT_MAX_WAIT_MS,
    jitterMs: settings.restartJitterMs,
    restart: () => restartForConfig(app, appEnv),
    onError: (err) => logger.error(`config restart failed unexpectedly: ${err.message}`),
  });
  // How the dynamic vars resolve, for the server to show (`config status`); never values.
  const configStatus = new chunk.StatusReporter({ instanceId: connection.instanceId, logger, rpc: chunk.CONFIG_STATUS });
  connection.onSession((session) => configStatus.attach(session));
  const applier = new chunk.ConfigApplier({
    appEnv,
    logger,
    cwd: process.cwd(),
    fileRoot: settings.fileRoot,
    disableExec: settings.disableExec,
    defaultLogLevel: settings.logLevel,
    // Before the first start there is nothing to restart: the start reads the env then.
    onEnvChanged: () => app.started && restarts.request(),
    signalApp: (signal) => {
      if (!app.started) return false;
      app.forward(signal);
      return true;
    },
    onDynamicStatus: (vars) => configStatus.set(vars),
  });
  connection.onConfig((config) => applier.apply(config));
  // Exec lives in the chunk; the SIGCHLD dispatcher and the native addons it needs are this
  // bundle's own instances, the very ones the app's spawn uses.
  const host: ExecHost = { exits, posix, nodePty: loadNodePty };
  const exec = chunk.startExec({
    connection,
    logger,
    host,
    env: () => app.effectiveEnv(appEnv.current()),
    cwd: process.cwd(),
    disabled: settings.disableExec,
  });
  // The URL service follows each config's url_service on each session, never restarting the
  // app; connections go to the port the app listens on now (the config may give it a PORT).
  const url = new chunk.UrlService({
    instanceId: connection.instanceId,
    logger,
    port: () => chunk.appPort(app.effectiveEnv(appEnv.current()), settings.port),
  });
  connection.onConfig((config) => url.applyConfig(config));
  connection.onSession((session) => url.attach(session));
  // What became of each config (refused, failed restart, running), for the server to show.
  const status = new chunk.StatusReporter({ instanceId: connection.instanceId, logger });
  app.onStatus((s) => status.set(s));
  connection.onSession((session) => status.attach(session));
  return { connection, applier, logs, restarts, exec, url };
}

/** A restart with the current config env (the lifecycle skips one it runs with or refused). */
async function restartForConfig(app: AppLifecycle, appEnv: AppEnv): Promise<void> {
  if (!app.started || app.stopRequested) return;
  await app.restart(appEnv.current());
}

async function runApp({ supervisor, app, appEnv }: AppParts, logger: Logger, connected: Connected | undefined): Promise<number> {
  try {
    await app.start(appEnv.current());
  } catch (err) {
    if (err instanceof SpawnError) {
      logger.error(err.message);
      return err.exitCode;
    }
    throw err;
  }
  // A config that came in while the app was being started.
  if (connected && !sameEnv(appEnv.current(), app.env)) connected.restarts.request();

  const status = await app.ended;
  connected?.restarts.close();
  await supervisor.flushOutput();
  return status;
}
