// Our own log lines, on stderr beside the app's. Each record is one synchronous write so it
// never interleaves mid-line with the app's output, and nothing is lost when we exit right
// after. A tiny writer instead of pino: it costs nothing at start-up, which has a budget. With
// WAYPOINT_LOG_FORMAT=json it writes pino's own line format, so that pino-pretty and a log
// pipeline read it as they read the server's (pino) lines.
import { readFileSync, writeSync } from 'node:fs';
import type { LogFormat, LogLevel } from './settings.js';

/** pino's level numbers, which its JSON lines carry. */
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
    private readonly format: LogFormat = 'text',
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
    writeLine(this.fd, (this.format === 'json' ? formatJson(record) : formatRecord(record)) + this.lineEnd);
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

/** The keys pino writes itself; a field of ours by one of these names gets a trailing `_`. */
const PINO_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'name', 'msg']);

/**
 * One line as pino writes it: `level` (pino's number), `time` (ms since the epoch), `pid`,
 * `hostname`, `name`, then our fields, then `msg`.
 */
export function formatJson(record: LogRecord): string {
  const line: Record<string, string | number | boolean> = {
    level: RANK[record.level],
    time: record.time.getTime(),
    pid: process.pid,
    hostname: hostname(),
    name: 'waypoint-entrypoint',
  };
  for (const [key, value] of Object.entries(record.fields)) {
    if (value !== undefined) line[PINO_KEYS.has(key) ? `${key}_` : key] = value;
  }
  line.msg = record.message;
  return JSON.stringify(line);
}

let host: string | undefined;

/** The kernel's hostname, as os.hostname() gives it, without loading the os module. */
function hostname(): string {
  if (host === undefined) {
    try {
      host = readFileSync('/proc/sys/kernel/hostname', 'utf8').trim();
    } catch {
      host = (require('node:os') as typeof import('node:os')).hostname();
    }
  }
  return host;
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
