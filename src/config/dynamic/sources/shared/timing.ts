// The arithmetic of retries and leases, kept pure so that it is tested on its own.

/** Exponential backoff with ±20% jitter: base, 2×base, 4×base… capped at `maxMs`. `attempt`
 * counts from 1. */
export function backoffMs(attempt: number, baseMs = 1000, maxMs = 60_000, random = Math.random): number {
  const exact = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exact * (0.8 + 0.4 * random()));
}

/** Renew at two thirds of a lease, as Vault's own lifetime watcher does: a third of the lease
 * is left for retries when the renewal fails. */
export function renewDelayMs(ttlSec: number): number {
  return Math.round((ttlSec * 1000 * 2) / 3);
}

/** How long before a lease's end we stop counting on it and read (or log in) anew: a tenth of
 * the lease, between half a second and five minutes. */
export function graceMs(ttlSec: number): number {
  return Math.min(300_000, Math.max(500, ttlSec * 100));
}

export type LeasePlan = { action: 'renew'; inMs: number } | { action: 'replace'; inMs: number };

/**
 * What to do after Vault granted a lease (a secret's or a token's) `grantedSec` seconds when
 * `requestedSec` were asked for: renew it at two thirds; or, when it cannot be renewed or the
 * grant fell short of the request (the max TTL is near: further renewals cannot extend it),
 * replace it (read the secret or log in again) shortly before it ends.
 */
export function planLease(requestedSec: number, grantedSec: number, renewable: boolean): LeasePlan {
  if (!renewable || grantedSec < requestedSec) {
    return { action: 'replace', inMs: Math.max(0, grantedSec * 1000 - graceMs(grantedSec)) };
  }
  return { action: 'renew', inMs: renewDelayMs(grantedSec) };
}
