// Failures as results (a source's read never rejects), one line each.
import type { DynamicFailure, DynamicResult } from '../../source.js';
import { RequestError } from './http.js';

export type Failed = Extract<DynamicResult, { ok: false }>;

export function failed(failure: DynamicFailure, message: string): Failed {
  return { ok: false, failure, message };
}

/** A request that got no answer: the backend down or slow is transient (the last good value is
 * kept); a certificate we do not trust is a settings problem (invalid). */
export function requestFailed(err: unknown): Failed {
  if (err instanceof RequestError) return failed(err.kind === 'tls' ? 'invalid' : 'transient', err.message);
  return failed('transient', String((err as Error)?.message ?? err).split('\n')[0]);
}

/** A timer that does not keep the process alive on its own. */
export function later(ms: number, fn: () => void): NodeJS.Timeout {
  const timer = setTimeout(fn, ms);
  timer.unref();
  return timer;
}

/** Resolves after `ms`, early (without error) when `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
