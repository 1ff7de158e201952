// How `waypoint-ctl logs` prints a line: for people, time (ms), instance, source and the text;
// with --json, one object per line whose timestamp keeps the entrypoint's full precision
// (RFC 3339 with nanoseconds, so equal-width strings sort as times do).
import type { LogLine__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/LogLine.js';

export interface LogLineJson {
  instance_id: string;
  app: string;
  timestamp: string;
  source: 'app' | 'entrypoint';
  line: string;
}

/** 2026-01-02T03:04:05.123456789Z */
export function rfc3339Nano(seconds: number, nanos: number): string {
  const base = new Date(seconds * 1000).toISOString(); // ...:05.000Z
  return `${base.slice(0, -5)}.${String(nanos).padStart(9, '0')}Z`;
}

function sourceOf(l: LogLine__Output): 'app' | 'entrypoint' {
  return l.source === 'ENTRYPOINT' ? 'entrypoint' : 'app';
}

function timeOf(l: LogLine__Output): { seconds: number; nanos: number } {
  return { seconds: Number(l.timestamp?.seconds ?? 0), nanos: l.timestamp?.nanos ?? 0 };
}

export function jsonLine(l: LogLine__Output): string {
  const { seconds, nanos } = timeOf(l);
  const value: LogLineJson = {
    instance_id: l.instance_id,
    app: l.app,
    timestamp: rfc3339Nano(seconds, nanos),
    source: sourceOf(l),
    line: l.line,
  };
  return JSON.stringify(value);
}

/** 2026-01-02T03:04:05.123Z <instance> app        <line> */
export function humanLine(l: LogLine__Output): string {
  const { seconds, nanos } = timeOf(l);
  const time = rfc3339Nano(seconds, nanos).slice(0, 23) + 'Z';
  return `${time} ${l.instance_id} ${sourceOf(l).padEnd(10)} ${l.line}`;
}
