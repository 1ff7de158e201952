// Our own log lines, on stderr beside the app's. Each record is one synchronous write so it
// never interleaves mid-line with the app's output, and nothing is lost when we exit right
// after. A tiny writer instead of pino: it costs nothing at start-up, which has a budget.
import { writeSync } from 'node:fs';
import type { LogLevel } from './settings.js';

const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50 };

export type LogFields = Record<string, string | number | boolean | undefined>;

export interface LogRecord {
  time: Date;
  level: LogLevel;
  message: string;
  fields: LogFields;
}

/** Later issues ship records to the server; a sink sees every record that passed the level. */
export type LogSink = (record: LogRecord) => void;

export class Logger {
  private rank: number;
  private readonly sinks: LogSink[] = [];
  /** "\r\n" while our terminal is raw (no output post-processing), else "\n". */
  lineEnd = '\n';

  constructor(
    level: LogLevel,
    private readonly fd = 2,
  ) {
    this.rank = RANK[level];
  }

  setLevel(level: LogLevel): void {
    this.rank = RANK[level];
  }

  addSink(sink: LogSink): void {
    this.sinks.push(sink);
  }

  trace(message: string, fields: LogFields = {}): void {
    this.log('trace', message, fields);
  }
  debug(message: string, fields: LogFields = {}): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields: LogFields = {}): void {
    this.log('info', message, fields);
  }
  warn(message: string, fields: LogFields = {}): void {
    this.log('warn', message, fields);
  }
  error(message: string, fields: LogFields = {}): void {
    this.log('error', message, fields);
  }

  private log(level: LogLevel, message: string, fields: LogFields): void {
    if (RANK[level] < this.rank) return;
    const record: LogRecord = { time: new Date(), level, message, fields };
    writeLine(this.fd, formatRecord(record) + this.lineEnd);
    for (const sink of this.sinks) sink(record);
  }
}

export function formatRecord(record: LogRecord): string {
  const pairs = Object.entries(record.fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}=${formatValue(v as string | number | boolean)}`)
    .join('');
  return `waypoint-entrypoint: ${record.level}: ${record.message}${pairs}`;
}

function formatValue(value: string | number | boolean): string {
  const text = String(value);
  return /^[^\s"=]+$/.test(text) ? text : JSON.stringify(text);
}

/** Writes all of `text`, retrying on a non-blocking fd that is momentarily full. */
export function writeLine(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') continue;
      return; // stderr gone (EPIPE, closed): nowhere left to report to
    }
  }
}
