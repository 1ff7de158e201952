// How long to wait before the next connection attempt. Pure: the random source is injected, so
// growth, cap and jitter bounds are unit-tested without timers.
//
// Two regimes. Within the connect window (the app waits on us) an unreachable server is retried
// every ~100-200 ms: a server booting beside the app (docker compose) must still configure its
// first start. Otherwise, exponential growth with jitter, capped: a fleet of entrypoints whose
// server restarted must not reconnect in lockstep, nor hammer a server that is down for hours.

export interface BackoffPolicy {
  /** The delay of the first retry, before jitter. */
  initialMs: number;
  /** No delay ever exceeds this, jitter included. */
  maxMs: number;
  /** Growth per failed attempt. */
  multiplier: number;
  /** 0..1: the fraction of each delay that is random; 0.5 gives a delay in [base/2, base]. */
  jitter: number;
}

/** Background reconnects: 0.5 s, 1 s, 2 s, ... up to 30 s, each between half and all of it. */
export const RECONNECT_POLICY: BackoffPolicy = { initialMs: 500, maxMs: 30_000, multiplier: 2, jitter: 0.5 };

/** While the app waits for the server (server required): the same growth, but a lower cap. */
export const WAITING_POLICY: BackoffPolicy = { ...RECONNECT_POLICY, maxMs: 2_000 };

/** Within the connect window, for an unreachable server: every 100-200 ms, no growth. */
export const FAST_POLICY: BackoffPolicy = { initialMs: 200, maxMs: 200, multiplier: 1, jitter: 0.5 };

export type Random = () => number;

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: Random = Math.random): number {
  const exponent = Math.max(0, attempt);
  const base = Math.min(policy.maxMs, policy.initialMs * policy.multiplier ** exponent);
  const jitter = Math.min(1, Math.max(0, policy.jitter));
  const r = Math.min(1, Math.max(0, random()));
  // Jitter only shortens the delay, so the cap holds strictly.
  return Math.round(base * (1 - jitter * r));
}

/**
 * A sequence of retry delays. Fast retries (within the connect window) do not count as
 * attempts: the exponential regime starts from its first step once the window is over.
 */
export class Backoff {
  private attempt = 0;

  constructor(private readonly random: Random = Math.random) {}

  next({ fast = false, policy = RECONNECT_POLICY }: { fast?: boolean; policy?: BackoffPolicy } = {}): number {
    if (fast) return backoffDelay(0, FAST_POLICY, this.random);
    return backoffDelay(this.attempt++, policy, this.random);
  }

  /** After a success: the next failure starts over from the first step. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
