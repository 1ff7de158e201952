// The last resort of connected mode: an exception or rejection nobody caught. The guards at
// the points of dispatch (guard.ts, Connection.receive) catch what a handler throws while a
// message is delivered; this catches the rest (a timer or socket callback of a connected part,
// a promise nobody awaited). Node's default would end the process and, with it, the app. The
// supervisor core does not depend on the connection, so the policy is: one line, the session
// torn down and re-established with backoff, the app supervised as before. Disabled mode does
// not install it: there, nothing arrives from outside and behaviour stays Node's.
import type { Logger } from '../log.js';
import type { Connection } from './connection.js';

/** The same error again within this period is logged at debug level: a loop must not flood. */
const REPEAT_MS = 60_000;

export interface LastResortOptions {
  connection: Pick<Connection, 'dropSession'>;
  logger: Logger;
  now?: () => number;
  /** Where the events come from (default: the process). */
  events?: Pick<NodeJS.EventEmitter, 'on' | 'off'>;
}

/** Installs the handlers; returns a function that removes them. */
export function installLastResort({ connection, logger, now = Date.now, events = process }: LastResortOptions): () => void {
  let last: { text: string; at: number } | undefined;
  const handle = (kind: string, error: unknown) => {
    const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    const at = now();
    const repeated = last !== undefined && last.text === text && at - last.at < REPEAT_MS;
    if (!repeated) last = { text, at };
    (repeated ? logger.debug : logger.error).call(logger, `internal error (${kind}); the server connection is re-established, the app keeps running`, {
      error: text.split('\n')[0],
    });
    try {
      connection.dropSession(text);
    } catch {
      // the connection is what failed: its own loop still retries
    }
  };
  const onException = (error: Error) => handle('uncaught exception', error);
  const onRejection = (reason: unknown) => handle('unhandled rejection', reason);
  events.on('uncaughtException', onException);
  events.on('unhandledRejection', onRejection);
  return () => {
    events.off('uncaughtException', onException);
    events.off('unhandledRejection', onRejection);
  };
}
