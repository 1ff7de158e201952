// The orchestrator: the only module that knows all the others. It wires the supervisor
// (signals, reaping, exit status) and, in connected mode, the server connection (fail-open).
import type { Connection } from './connection/index.js';
import type { Logger } from './log.js';
import { setNativeDir } from './native/load.js';
import { isTerminal } from './native/posix.js';
import { isConnected, type Settings } from './settings.js';
import { SpawnError } from './supervisor/child.js';
import { childEnv } from './supervisor/env.js';
import { startReaper } from './supervisor/reaper.js';
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

/** Runs the app to completion and resolves with the exit status we should exit with. */
export async function runEntrypoint({ argv, settings, logger }: EntrypointOptions): Promise<number> {
  // The connect window counts from here, before gRPC is even loaded.
  const startedAt = performance.now();
  setNativeDir(settings.nativeDir);
  startReaper({ asSubreaper: settings.subreaper, logger });

  const supervisor = new Supervisor({
    argv,
    cwd: process.cwd(),
    stopTimeoutMs: settings.stopTimeoutMs,
    signalGroup: settings.signalGroup,
    // Not process.stdin/stdout.isTTY: those getters build streams we do not otherwise need.
    terminal: isTerminal(0) && isTerminal(1),
    logger,
  });

  // Handlers go in before the child exists: as PID 1 an unhandled SIGTERM is simply ignored
  // by the kernel, and a signal arriving during start-up must not be lost.
  let stopRequested: NodeJS.Signals | undefined;
  let onStop: (signal: NodeJS.Signals) => void = () => {};
  const stopped = new Promise<NodeJS.Signals>((resolve) => (onStop = resolve));
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      if (STOP_SIGNALS.includes(signal)) {
        stopRequested ??= signal;
        onStop(signal);
        void supervisor.stop(signal);
      } else {
        supervisor.forward(signal);
      }
    });
  }

  let connection: Connection | undefined;
  if (isConnected(settings)) {
    const connected = await connect(settings, logger, startedAt, stopped);
    if (typeof connected === 'number') return connected;
    connection = connected;
  }
  try {
    return await runApp(supervisor, settings, logger, () => stopRequested);
  } finally {
    connection?.close();
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
): Promise<Connection | number> {
  // Lazily: this is where @grpc/grpc-js gets loaded, never in disabled mode.
  const { startConnection, waitForFirstConfig } = await import('./connection/index.js');
  const windowEnd = startedAt + settings.connectTimeoutMs;
  let appWaiting = true;
  const connection = startConnection({
    settings: { ...settings, serverAddr: settings.serverAddr! },
    logger,
    version: VERSION,
    fastUntil: windowEnd,
    appWaiting: () => appWaiting && settings.serverRequired,
  });
  const { reason, error } = await waitForFirstConfig({
    firstConfig: connection.firstConfig,
    remainingMs: windowEnd - performance.now(),
    required: settings.serverRequired,
    stopped,
  });
  appWaiting = false;
  switch (reason) {
    case 'config':
      logger.debug('starting the app with its config', { after_ms: Math.round(performance.now() - startedAt) });
      return connection;
    case 'timeout':
      logger.warn('no config from the server in time; starting the app without it (retrying in the background)', {
        server: settings.serverAddr,
        timeout_ms: settings.connectTimeoutMs,
      });
      return connection;
    case 'stopped': {
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
      return connection;
  }
}

async function runApp(
  supervisor: Supervisor,
  settings: Settings,
  logger: Logger,
  stopRequested: () => NodeJS.Signals | undefined,
): Promise<number> {
  let child;
  try {
    child = await supervisor.start(childEnv(process.env, settings.port));
  } catch (err) {
    if (err instanceof SpawnError) {
      logger.error(err.message);
      return err.exitCode;
    }
    throw err;
  }
  const stop = stopRequested();
  if (stop) void supervisor.stop(stop);

  const status = await child.exited;
  await supervisor.flushOutput();
  logger.debug('app exited', { pid: child.pid, status });
  return status;
}
