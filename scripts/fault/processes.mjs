// Every process the fault suite starts, and every mount it makes, torn down at the end whatever
// happens: a failed check, an exception, Ctrl-C. Teardown is synchronous so that it also runs
// from process.on('exit'). Also the /proc reads the checks need (RSS, children, start time).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';

const children = new Set();
const mounts = new Set();
const dirs = new Set();

/** Remembers a spawned ChildProcess until it exits. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function trackMount(dir) {
  mounts.add(dir);
}

export function untrackMount(dir) {
  mounts.delete(dir);
}

export function trackDir(dir) {
  dirs.add(dir);
}

/** The pids of `pid`'s children (every thread's), from /proc. */
export function childPids(pid) {
  const pids = [];
  let tasks;
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {
      /* thread gone meanwhile */
    }
  }
  return pids;
}

/** `pid` and all its descendants, parents first. */
export function processTree(pid) {
  const all = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift();
    all.push(p);
    queue.push(...childPids(p));
  }
  return all;
}

/** Fields of /proc/<pid>/stat after the comm: [state, ppid, ...]; undefined when gone. */
function statFields(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Running and not a zombie. */
export function isRunning(pid) {
  const state = statFields(pid)?.[0];
  return state !== undefined && state !== 'Z' && state !== 'X';
}

/** The start time of `pid` in clock ticks since boot: with the pid, identifies one process. */
export function startTicks(pid) {
  const fields = statFields(pid);
  return fields ? Number(fields[19]) : undefined;
}

/** VmRSS of `pid` in MiB, or undefined when it is gone. */
export function rssMiB(pid) {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function signalTree(pid, signal) {
  // The descendants first found, then signalled: a SIGKILLed entrypoint would orphan its app
  // (which has a session of its own) before we could find it.
  for (const p of processTree(pid).reverse()) {
    try {
      process.kill(p, signal);
    } catch {
      /* gone */
    }
  }
}

/**
 * Kills every tracked process and its descendants (SIGCONT first: a stopped server must not
 * survive us either), unmounts, removes temp dirs. Synchronous; safe to call twice.
 */
export function teardown() {
  for (const child of children) {
    if (child.pid === undefined) continue;
    signalTree(child.pid, 'SIGCONT');
    signalTree(child.pid, 'SIGKILL');
  }
  children.clear();
  for (const dir of mounts) {
    // A process still holding a file there (just killed) can make the first try fail: lazy.
    const r = spawnSync('umount', [dir], { stdio: 'pipe' });
    if (r.status !== 0) spawnSync('umount', ['-l', dir], { stdio: 'pipe' });
  }
  mounts.clear();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs.clear();
}

/** Teardown on every way out: normal exit, an uncaught error, SIGINT/SIGTERM/SIGHUP. */
export function installTeardown() {
  process.on('exit', teardown);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(signal, () => {
      teardown();
      process.exit(130);
    });
  }
}

/** Polls `check` (sync or async) until truthy or `timeoutMs` passes; resolves with its value or undefined. */
export async function waitFor(check, { timeoutMs, intervalMs = 25 }) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
