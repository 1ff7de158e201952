// How `waypoint-ctl logs` prints a line: for people, time (ms), instance, source and the text;
// with --json, one object per line whose timestamp keeps the entrypoint's full precision
// (RFC 3339 with nanoseconds, so equal-width strings sort as times do). A timestamp that is not
// a time (M6: a server that passed one through) never ends the listing: people see a
// placeholder, --json a null. Text for people has its control characters made visible (L6).
import { visible } from './output.js';
import type { LogLine__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/LogLine.js';

export interface LogLineJson {
  instance_id: string;
  app: string;
  /** null when the server sent a timestamp that is no time. */
  timestamp: string | null;
  source: 'app' | 'entrypoint';
  line: string;
}

/** Seconds of google.protobuf.Timestamp's range, 0001-01-01 to 9999-12-31: four-digit years. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

/** 2026-01-02T03:04:05.123456789Z, or undefined when seconds and nanos are not a time. */
export function rfc3339Nano(seconds: number, nanos: number): string | undefined {
  if (!Number.isInteger(seconds) || seconds < MIN_SECONDS || seconds > MAX_SECONDS) return undefined;
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) return undefined;
  const base = new Date(seconds * 1000).toISOString(); // ...:05.000Z
  return `${base.slice(0, -5)}.${String(nanos).padStart(9, '0')}Z`;
}

/** As wide as a time, for a line whose timestamp is not one. */
const NO_TIME = '(invalid time)'.padEnd(24);

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
    timestamp: rfc3339Nano(seconds, nanos) ?? null,
    source: sourceOf(l),
    line: l.line,
  };
  return JSON.stringify(value);
}

/** 2026-01-02T03:04:05.123Z <instance> app        <line> */
export function humanLine(l: LogLine__Output): string {
  const { seconds, nanos } = timeOf(l);
  const stamp = rfc3339Nano(seconds, nanos);
  const time = stamp === undefined ? NO_TIME : `${stamp.slice(0, 23)}Z`;
  return `${time} ${visible(l.instance_id)} ${sourceOf(l).padEnd(10)} ${visible(l.line)}`;
}
