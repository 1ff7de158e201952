// What execve(2) will take, checked before a running app is stopped for a new env: an env the
// kernel refuses (E2BIG) would leave the instance with no app at all. Linux's rules
// (fs/exec.c): each argument or NAME=value string, its NUL included, at most MAX_ARG_STRLEN;
// all of them, plus one pointer each, within a quarter of the stack limit (capped at 6 MiB,
// at least 128 KiB): what sysconf(_SC_ARG_MAX) reports.
import { readFileSync } from 'node:fs';

/** 32 pages of 4 KiB: the longest single string, its NUL included. */
export const MAX_ARG_STRLEN = 128 * 1024;
/** The kernel's floor and ceiling for the total (ARG_MAX, and 3/4 of _STK_LIM). */
const MIN_ARG_MAX = 128 * 1024;
const MAX_TOTAL = 6 * 1024 * 1024;
/** When the stack limit cannot be read (no /proc, another OS): safe under every usual limit. */
export const FALLBACK_ARG_MAX = 1024 * 1024;
const POINTER_BYTES = 8;

/** The stack's soft limit from /proc/self/limits ('unlimited' → Infinity), if readable. */
function stackLimit(limits: string): number | undefined {
  const m = /^Max stack size\s+(\S+)/m.exec(limits);
  if (!m) return undefined;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isFinite(n) ? n : undefined;
}

/** sysconf(_SC_ARG_MAX) as Linux computes it, read from our limits (the child inherits them). */
export function argMax(readLimits: () => string = () => readFileSync('/proc/self/limits', 'utf8')): number {
  let stack: number | undefined;
  try {
    stack = stackLimit(readLimits());
  } catch {
    stack = undefined;
  }
  if (stack === undefined) return FALLBACK_ARG_MAX;
  return Math.max(MIN_ARG_MAX, Math.min(stack / 4, MAX_TOTAL));
}

export interface ExecImage {
  /** The resolved file: the kernel copies its name too. */
  file: string;
  argv: readonly string[];
  env: Readonly<Record<string, string>>;
}

const bytes = (s: string) => Buffer.byteLength(s) + 1;

/** Why execve would refuse this with E2BIG, in one line; undefined when it fits. */
export function execSizeProblem({ file, argv, env }: ExecImage, limit = argMax()): string | undefined {
  let total = bytes(file);
  let count = 0;
  for (const arg of argv) {
    const size = bytes(arg);
    if (size > MAX_ARG_STRLEN) return `an argument is ${size - 1} bytes; exec takes at most ${MAX_ARG_STRLEN - 1} per string`;
    total += size;
    count++;
  }
  for (const name of Object.keys(env)) {
    const size = bytes(`${name}=${env[name]}`);
    if (size > MAX_ARG_STRLEN) {
      return `env var ${name} is ${size - 1} bytes as NAME=value; exec takes at most ${MAX_ARG_STRLEN - 1} per var (MAX_ARG_STRLEN)`;
    }
    total += size;
    count++;
  }
  total += count * POINTER_BYTES;
  if (total > limit) {
    return `the env and command line take ${total} bytes; exec takes at most ${limit} here (ARG_MAX: a quarter of the stack limit)`;
  }
  return undefined;
}
