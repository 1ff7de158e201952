// The server's log when the ctl runs it (`server run`, `dev`): pino. JSON lines for a log
// pipeline when stderr is not a terminal, pino-pretty's lines on one. Both are written
// synchronously in this process: a worker-thread transport does not bundle into one file, and
// loses the last lines when the process exits.
import pino, { type DestinationStream, type Level, type Logger } from 'pino';
import { prettyFactory } from 'pino-pretty';
import { isatty } from 'node:tty';
import { writeLine } from '../log.js';
import { UsageError } from './errors.js';
import type { ServerLog } from '../server/log.js';
import type { LogLevel } from '../settings.js';

export type ServerLogFormat = 'json' | 'pretty';

/**
 * Fields whose value may be a secret, wherever a log call puts them (top level, or one level
 * down in an object). A token's id is `token_id`, never `token`: ids stay readable.
 */
export const REDACTED_FIELDS = [
  'token', 'invite', 'invite_token', 'entrypoint_token', 'operator_token', 'url_token',
  'authorization', 'secret', 'password', 'value', 'values', 'env',
];
export const CENSOR = '[redacted]';

export interface PinoLogOptions {
  level: LogLevel;
  format: ServerLogFormat;
  /** Before each pretty line, e.g. "waypoint-ctl dev: ". */
  prefix?: string;
  /** Pretty lines for a person in a chat (dev): on one line, no time, pid or host. */
  brief?: boolean;
  /** Where the lines go (tests); default stderr. */
  destination?: DestinationStream;
}

/** The stderr format when no flag says: JSON unless a person is watching. */
export function defaultLogFormat(stderrIsTty: boolean): ServerLogFormat {
  return stderrIsTty ? 'pretty' : 'json';
}

export function parseServerLogFormat(flag: string, value: string): ServerLogFormat {
  if (value === 'json' || value === 'pretty') return value;
  throw new UsageError(`${flag} must be json or pretty, got ${JSON.stringify(value)}`);
}

export function pinoLogger(opts: PinoLogOptions): Logger {
  return pino(
    {
      name: 'waypoint-ctl',
      level: opts.level,
      redact: { paths: REDACTED_FIELDS.flatMap((f) => [f, `*.${f}`]), censor: CENSOR },
    },
    opts.destination ?? (opts.format === 'json' ? pino.destination({ fd: 2, sync: true }) : prettyStream(opts)),
  );
}

/** A ServerLog whose calls become pino records: the fields first, then the message. */
export function pinoServerLog(opts: PinoLogOptions): ServerLog {
  return fromPino(pinoLogger(opts));
}

export function fromPino(logger: Logger): ServerLog {
  const at = (level: Level) => (message: string, fields: object = {}) => logger[level](fields, message);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** pino-pretty's formatting, written by us: synchronous, and with our prefix on every line. */
function prettyStream({ prefix = '', brief = false }: PinoLogOptions): DestinationStream {
  const prettify = prettyFactory({
    colorize: isatty(2),
    singleLine: brief,
    translateTime: brief ? false : 'SYS:standard',
    ignore: brief ? 'pid,hostname,name,time' : 'pid,hostname',
  });
  return {
    write(line: string) {
      const text = prettify(line) as string;
      writeLine(2, prefix ? text.replace(/^(?=.)/gm, prefix) : text);
    },
  };
}
