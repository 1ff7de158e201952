// What commands print: aligned tables for people, JSON for machines, both on stdout.
import { writeLine } from '../log.js';

export function printJson(value: unknown): void {
  writeLine(1, `${JSON.stringify(value, null, 2)}\n`);
}

export function printLines(lines: string[]): void {
  writeLine(1, lines.map((l) => `${l}\n`).join(''));
}

/** An argument as a shell would need it typed: quoted when it holds anything unusual. */
export function shellWord(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
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
