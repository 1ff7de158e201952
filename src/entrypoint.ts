// The orchestrator: the only module that knows all the others. Today it wires the supervisor
// (signals, reaping, exit status); the server connection joins it in connected mode.
import type { Logger } from './log.js';
import { setNativeDir } from './native/load.js';
import { isTerminal } from './native/posix.js';
import { isConnected, type Settings } from './settings.js';
import { SpawnError } from './supervisor/child.js';
import { childEnv } from './supervisor/env.js';
import { startReaper } from './supervisor/reaper.js';
import { FORWARDED_SIGNALS, STOP_SIGNALS } from './supervisor/signals.js';
import { Supervisor } from './supervisor/supervisor.js';

export interface EntrypointOptions {
  /** The app's command and arguments, verbatim. */
  argv: string[];
  settings: Settings;
  logger: Logger;
}

/** Runs the app to completion and resolves with the exit status we should exit with. */
export async function runEntrypoint({ argv, settings, logger }: EntrypointOptions): Promise<number> {
  setNativeDir(settings.nativeDir);
  startReaper({ asSubreaper: settings.subreaper, logger });
  if (isConnected(settings)) {
    logger.warn('this build has no server connection yet; running the app as a plain supervisor', {
      server: settings.serverAddr,
    });
  }

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
  for (const signal of FORWARDED_SIGNALS) {
    process.on(signal, () => {
      if (STOP_SIGNALS.includes(signal)) {
        stopRequested ??= signal;
        void supervisor.stop(signal);
      } else {
        supervisor.forward(signal);
      }
    });
  }

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
  if (stopRequested) void supervisor.stop(stopRequested);

  const status = await child.exited;
  await supervisor.flushOutput();
  logger.debug('app exited', { pid: child.pid, status });
  return status;
}
