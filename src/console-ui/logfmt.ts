// Log lines as the logs page filters, shows and downloads them.
import type { LogLine } from './types.js';

export interface LogFilter {
  app: string;
  deployment: string;
  instance: string;
  source: '' | 'app' | 'entrypoint';
  text: string;
}

export const emptyFilter: LogFilter = { app: '', deployment: '', instance: '', source: '', text: '' };

/** The server-side part of a filter as the query of /api/v1/logs and /logs/stream. */
export function serverQuery(f: LogFilter, extra: Record<string, string> = {}): string {
  const q = new URLSearchParams();
  if (f.app) q.set('app', f.app);
  if (f.deployment) q.set('deployment', f.deployment);
  if (f.instance) q.set('instance', f.instance);
  if (f.source) q.set('source', f.source);
  for (const [k, v] of Object.entries(extra)) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/**
 * Whether a line passes the whole filter. The server filters the stream by app, deployment,
 * instance and source already; checking them here too keeps lines of an older stream (before a
 * filter changed) out of the view.
 */
export function matches(f: LogFilter, l: LogLine): boolean {
  if (f.app && l.app !== f.app) return false;
  if (f.deployment && l.deploymentId !== f.deployment) return false;
  if (f.instance && l.instanceId !== f.instance) return false;
  if (f.source && l.source !== f.source) return false;
  if (f.text && !l.line.toLowerCase().includes(f.text.toLowerCase())) return false;
  return true;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** UTC time of day with milliseconds: lines of one second told apart, any viewer's zone. */
export function timeOfDay(ms: number): string {
  const d = new Date(ms);
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}`;
}

/** One line of the downloaded text: ISO time, app, instance, source/stream, the line. */
export function textLine(l: LogLine): string {
  const src = l.stream ? `${l.source}/${l.stream}` : l.source;
  return `${new Date(l.timestamp).toISOString()} ${l.app} ${l.instanceId} ${src} ${l.line}`;
}

/** Parses an application/x-ndjson body into lines; blank lines are skipped, a broken one fails. */
export function parseNdjson<T>(body: string): T[] {
  const out: T[] = [];
  for (const raw of body.split('\n')) {
    if (raw.trim() === '') continue;
    out.push(JSON.parse(raw) as T);
  }
  return out;
}
