// Starting the real programs in tests: output collected, conditions awaited with deadlines,
// every process killed at the end of its test (call `killAll` in afterEach).
import { type ChildProcess, spawn, type SpawnOptions } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { killDescendants } from './proc.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The npm package's launcher, running the esbuild bundle. */
export const ENTRYPOINT = path.join(ROOT, 'bin/waypoint-entrypoint');
/** The single executable built by `npm run build:binary`. */
export const BINARY = path.join(ROOT, 'dist/waypoint-entrypoint');
export const FIXTURES = path.join(ROOT, 'test/fixtures');

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Running {
  proc: ChildProcess;
  pid: number;
  stdout(): Buffer;
  stderr(): Buffer;
  exited: Promise<Exit>;
  /** Waits until stdout (or stderr) contains `text`. */
  waitForOutput(text: string | RegExp, opts?: { stream?: 'stdout' | 'stderr'; timeoutMs?: number }): Promise<void>;
}

const running = new Set<ChildProcess>();

export interface StartOptions extends SpawnOptions {
  /** Replaces the environment entirely when given (a clean one by default). */
  env?: NodeJS.ProcessEnv;
  /** Bytes written to stdin, which is then closed. Without it stdin is an open pipe. */
  input?: Buffer | string;
  bin?: string;
}

/** A minimal, predictable environment: no WAYPOINT_* of the developer's shell leaks in. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8', ...extra };
}

export function start(args: string[], options: StartOptions = {}): Running {
  const bin = options.bin ?? ENTRYPOINT;
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build (and build:binary)`);
  const { input, env, bin: _bin, ...spawnOptions } = options;
  const proc = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env: env ?? cleanEnv(), ...spawnOptions });
  running.add(proc);
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  proc.stdout?.on('data', (c: Buffer) => out.push(c));
  proc.stderr?.on('data', (c: Buffer) => err.push(c));
  const exited = new Promise<Exit>((resolve) => {
    proc.once('close', (code, signal) => {
      running.delete(proc);
      resolve({ code, signal });
    });
  });
  // A child that exits without reading its input closes the pipe: EPIPE on our side is its
  // business, not an unhandled error of the test run.
  proc.stdin?.on('error', () => {});
  if (input !== undefined) proc.stdin?.end(input);
  const stdout = () => Buffer.concat(out);
  const stderr = () => Buffer.concat(err);
  return {
    proc,
    pid: proc.pid!,
    stdout,
    stderr,
    exited,
    waitForOutput: (text, opts = {}) =>
      waitFor(
        () => {
          const s = (opts.stream === 'stderr' ? stderr() : stdout()).toString();
          return typeof text === 'string' ? s.includes(text) : text.test(s);
        },
        {
          timeoutMs: opts.timeoutMs,
          what: () =>
            `${String(text)} on ${opts.stream ?? 'stdout'}; stdout so far: ${JSON.stringify(stdout().toString().slice(-500))}, stderr: ${JSON.stringify(stderr().toString().slice(-500))}`,
        },
      ),
  };
}

/** Runs to completion (with a deadline) and returns exit and output. */
export async function run(
  args: string[],
  options: StartOptions & { timeoutMs?: number } = {},
): Promise<Exit & { stdout: Buffer; stderr: Buffer }> {
  const { timeoutMs = 20_000, ...rest } = options;
  const r = start(args, { input: '', ...rest });
  const exit = await withDeadline(r.exited, timeoutMs, `${args.join(' ')} to exit`);
  return { ...exit, stdout: r.stdout(), stderr: r.stderr() };
}

export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` until it holds; fails with `what` after the deadline. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  { timeoutMs = 10_000, intervalMs = 20, what = () => 'condition' }: { timeoutMs?: number; intervalMs?: number; what?: () => string } = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills every process a test started and everything below it: an entrypoint's app runs in a
 * session of its own, so killing the entrypoint alone would leave the app running.
 */
export function killAll(): void {
  for (const proc of running) {
    killDescendants(proc.pid!);
    try {
      process.kill(proc.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  running.clear();
}
