// The ingress and the gRPC listener share one process and its open-file limit (H4): each client
// connection costs one descriptor, so the ingress may hold at most a fraction of the limit and
// a flood on it can never leave gRPC (operators, entrypoints) and the database without any.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** The share of the process's open-file limit the ingress's connections may take. */
export const INGRESS_FD_SHARE = 0.5;

/** The soft RLIMIT_NOFILE (Node raises it to the hard limit at start); undefined when unlimited or unknown. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m) return m[1] === 'unlimited' ? undefined : Number(m[1]);
  } catch {
    // Not Linux: a shell inherits our limits and says them.
  }
  try {
    const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return /^\d+$/.test(out) ? Number(out) : undefined;
  } catch {
    return undefined;
  }
}

export interface ConnectionBudget {
  /** The total connection limit to apply. */
  maxConnections: number;
  /** Why it is lower than asked, for the log; undefined when it is as asked. */
  lowered?: { asked: number; nofile: number };
}

/** The total limit: as asked, or the ingress's share of the open-file limit when that is less. */
export function connectionBudget(asked: number, nofile: number | undefined): ConnectionBudget {
  if (nofile === undefined) return { maxConnections: asked };
  const share = Math.max(1, Math.floor(nofile * INGRESS_FD_SHARE));
  return asked <= share ? { maxConnections: asked } : { maxConnections: share, lowered: { asked, nofile } };
}
