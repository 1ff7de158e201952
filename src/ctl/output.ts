// What commands print: aligned tables for people, JSON for machines, both on stdout. Text for
// people never carries a control character as is (L6): a log line, an instance id or an arg
// chosen by someone else must not move the cursor, retitle or clear the operator's terminal,
// or fake a line of its own. JSON stays exact: its encoding escapes them already.
import { writeLine } from '../log.js';

/** C0 but tab, DEL, C1, and the bidi controls that reorder what is shown (Trojan Source). */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\x1b': '\\e' };

/** `text` with every control character written out visibly (\e, \r, \n, \x07, \u202e). */
export function visible(text: string): string {
  CONTROL.lastIndex = 0;
  if (!CONTROL.test(text)) return text;
  return text.replace(CONTROL, escapeOne);
}

function escapeOne(c: string): string {
  const code = c.charCodeAt(0);
  return NAMED[c] ?? (code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`);
}

export function printJson(value: unknown): void {
  writeLine(1, `${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: string[]): void {
  writeLine(1, lines.map((l) => `${l}\n`).join(''));
}

/**
 * An argument as a shell would need it typed: quoted when it holds anything unusual, in $'...'
 * (bash's quoting with escapes) when it holds a control character.
 */
export function shellWord(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  CONTROL.lastIndex = 0;
  if (CONTROL.test(arg)) return `$'${visible(arg.replace(/\\/g, '\\\\')).replace(/'/g, "\\'")}'`;
  return `'${arg.replace(/'/g, "'\\''")}'`;
}

/** Arguments as a shell would need them typed. */
export function commandLine(args: readonly string[]): string {
  return args.map(shellWord).join(' ');
}

/** Columns padded to their widest cell; `empty` is printed instead when there is no row. */
export function printTable(headers: string[], rows: string[][], empty: string): void {
  if (rows.length === 0) {
    printLines([empty]);
    return;
  }
  rows = rows.map((r) => r.map(visible));
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  printLines([line(headers), ...rows.map(line)]);
}

/** 2026-01-02 03:04:05Z: sortable, unambiguous, short. */
export function formatTime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function isoTime(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

export function formatLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return pairs.length === 0 ? '-' : pairs.map(([k, v]) => `${k}=${v}`).join(',');
}
