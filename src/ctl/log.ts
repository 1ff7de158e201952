// The server's log lines on stderr when run by the ctl: time, level, message, key=value fields.
import { type LogFields, writeLine } from '../log.js';
import type { ServerLog } from '../server/log.js';
import type { LogLevel } from '../settings.js';

const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

export interface StderrLogOptions {
  /** Before each line, e.g. "waypoint-ctl dev: ". */
  prefix?: string;
  level: LogLevel;
  /** A long-running server's lines carry their time; `dev`'s chat with a person does not. */
  timestamps?: boolean;
}

export function stderrLog({ prefix = '', level, timestamps = true }: StderrLogOptions): ServerLog {
  const at = (lvl: LogLevel) => (message: string, fields: LogFields = {}) => {
    if (RANK[lvl] < RANK[level]) return;
    const time = timestamps ? `${new Date().toISOString()} ` : '';
    writeLine(2, `${prefix}${time}${lvl}: ${message}${formatFields(fields)}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function formatFields(fields: LogFields): string {
  return Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => {
      const text = String(v);
      return ` ${k}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
    })
    .join('');
}
