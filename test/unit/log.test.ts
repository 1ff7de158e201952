// WAYPOINT_LOG_FORMAT=json: our lines in pino's own format, checked against pino itself (the
// same record through pino gives the same bytes) and read back by pino-pretty.
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { prettyFactory } from 'pino-pretty';
import { describe, expect, it } from 'vitest';
import { formatJson, formatRecord, Logger, type LogRecord } from '../../src/log.js';
import type { LogLevel } from '../../src/settings.js';

const TIME = new Date('2026-12-03T10:20:30.456Z');

/** What pino writes for the same record, at the same time, pid and host. */
function pinoLine(level: LogLevel, fields: Record<string, unknown>, msg: string): string {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      out += chunk;
      done();
    },
  });
  const logger = pino(
    { name: 'waypoint-entrypoint', level: 'trace', timestamp: () => `,"time":${TIME.getTime()}`, base: { pid: process.pid, hostname: os.hostname() } },
    sink,
  );
  logger[level](fields, msg);
  return out.trimEnd();
}

const record = (level: LogLevel, message: string, fields: LogRecord['fields'] = {}): LogRecord => ({ time: TIME, level, message, fields });

describe('JSON log lines (pino format)', () => {
  it.each(['trace', 'debug', 'info', 'warn', 'error'] as const)('are byte for byte what pino writes, at %s', (level) => {
    const fields = { server: '127.0.0.1:9701', timeout_ms: 5000, required: false };
    expect(formatJson(record(level, 'no config from the server in time', fields))).toBe(
      pinoLine(level, fields, 'no config from the server in time'),
    );
  });

  it('carry the documented fields with pino’s types', () => {
    const line = JSON.parse(formatJson(record('warn', 'app did not stop in time', { pid: 42, timeout_ms: 30000 })));
    expect(line).toEqual({
      level: 40,
      time: TIME.getTime(),
      pid: process.pid,
      hostname: os.hostname(),
      name: 'waypoint-entrypoint',
      pid_: 42,
      timeout_ms: 30000,
      msg: 'app did not stop in time',
    });
  });

  it('rename a field named like one of pino’s keys instead of writing the key twice', () => {
    const text = formatJson(record('info', 'm', { level: 'x', time: 1, hostname: 'h', name: 'n', msg: 'm2' }));
    expect(Object.keys(JSON.parse(text))).toEqual(['level', 'time', 'pid', 'hostname', 'name', 'level_', 'time_', 'hostname_', 'name_', 'msg_', 'msg']);
  });

  it('leave out a field whose value is undefined, and escape what JSON must', () => {
    const line = JSON.parse(formatJson(record('error', 'quote " newline \n tab \t', { a: undefined, b: 'é\u0000' })));
    expect(line.msg).toBe('quote " newline \n tab \t');
    expect(line.b).toBe('é\u0000');
    expect('a' in line).toBe(false);
  });

  it('are read by pino-pretty like pino’s own', () => {
    const pretty = prettyFactory({ colorize: false, translateTime: false });
    const ours = pretty(formatJson(record('error', 'nosuch: command not found', { exit_code: 127 })));
    expect(ours).toContain('ERROR');
    expect(ours).toContain('(waypoint-entrypoint/');
    expect(ours).toContain('nosuch: command not found');
    expect(ours).toContain('exit_code: 127');
    expect(ours).toBe(pretty(pinoLine('error', { exit_code: 127 }, 'nosuch: command not found')));
  });

  it('are what a json Logger writes, one line per record; text stays the default', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-log-json-'));
    try {
      const file = path.join(dir, 'out');
      const fd = openSync(file, 'w');
      new Logger('info', fd, 'json').warn('first', { n: 1 });
      new Logger('info', fd, 'json').debug('below the level');
      new Logger('info', fd).info('second', { n: 2 });
      closeSync(fd);
      const lines = readFileSync(file, 'utf8').split('\n');
      expect(JSON.parse(lines[0]!)).toMatchObject({ level: 40, msg: 'first', n: 1, name: 'waypoint-entrypoint' });
      expect(lines[1]).toBe(formatRecord({ time: TIME, level: 'info', message: 'second', fields: { n: 2 } }));
      expect(lines[1]).toBe('waypoint-entrypoint: info: second n=2');
      expect(lines).toHaveLength(3); // the last one empty: every record ends with a newline
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
