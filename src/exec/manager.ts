// Exec for the orchestrator: turns each config's exec list into sessions, each index once per
// server session (indexes.ts), every session independent of the others and of the app. At our
// exit every session still running is killed and its server told why, within a short bound.
import type { Connection } from '../connection/connection.js';
import type { Session } from '../connection/session.js';
import type { Logger } from '../log.js';
import { ExecIndexes } from './indexes.js';
import type { ExecHost } from './process.js';
import { ExecSession, type ExecRequest } from './session.js';

export interface ExecOptions {
  connection: Pick<Connection, 'onConfig' | 'onSession'>;
  logger: Logger;
  host: ExecHost;
  /** The app's env now, config included (AppEnv.current). */
  env: () => Record<string, string>;
  cwd: string;
  /** WAYPOINT_CEB_DISABLE_EXEC. */
  disabled: boolean;
  /** How long the server may take to answer `open` (default 5 s). */
  openDeadlineMs?: number;
}

export interface Exec {
  /** Sessions running now. */
  readonly active: number;
  /** Kills every session (the server is told we are shutting down); waits at most `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

const OPEN_DEADLINE_MS = 5_000;

export function startExec(options: ExecOptions): Exec {
  const indexes = new ExecIndexes<Session, ExecRequest>();
  const sessions = new Set<ExecSession>();
  let closed = false;

  const open = (session: Session, requests: ExecRequest[]) => {
    for (const request of requests) {
      if (closed) return;
      const exec = new ExecSession({
        session,
        request,
        logger: options.logger,
        host: options.host,
        env: options.env,
        cwd: options.cwd,
        disabled: options.disabled,
        openDeadlineMs: options.openDeadlineMs ?? OPEN_DEADLINE_MS,
      });
      sessions.add(exec);
      void exec.done.then(() => sessions.delete(exec));
      exec.start();
    }
  };

  options.connection.onSession((session) => {
    const held = indexes.sessionStarted(session);
    if (session.signal.aborted) return indexes.sessionEnded(session);
    session.signal.addEventListener('abort', () => indexes.sessionEnded(session), { once: true });
    open(session, held);
  });
  options.connection.onConfig((config) => {
    const fresh = indexes.config(config.exec ?? []);
    if (fresh) open(fresh.session, fresh.entries);
  });

  return {
    get active() {
      return sessions.size;
    },
    async shutdown(timeoutMs) {
      closed = true;
      if (sessions.size === 0) return;
      for (const exec of sessions) exec.shutdown();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all([...sessions].map((s) => s.done)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    },
  };
}
