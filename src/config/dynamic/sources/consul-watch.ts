// One Consul KV key kept current by blocking queries (Consul's long polling): each query
// carries the X-Consul-Index of the last answer and returns when the key changes or `wait`
// passes. Following Consul's guidance: an index that goes backwards resets to 0 (a plain
// read), an index of 0 is taken as 1, queries are rate limited, and errors back off.
import type { DynamicResult } from '../source.js';
import { backoffMs } from './shared/timing.js';
import { sleep } from './shared/results.js';

export interface KvQuery {
  key: string;
  datacenter?: string;
  namespace?: string;
  partition?: string;
  stale: boolean;
}

export interface KvAnswer {
  result: DynamicResult;
  /** X-Consul-Index; undefined when the answer had none (an error). */
  index?: number;
  /** A failure to back off from: the backend down, slow, or refusing. */
  retry: boolean;
}

export type KvFetch = (query: KvQuery, index: number, signal: AbortSignal) => Promise<KvAnswer>;

/** Blocking queries are spaced at least this much, as Consul asks of clients. */
const MIN_INTERVAL_MS = 250;

export class KeyWatch {
  result?: DynamicResult;
  private index = 0;
  /** The last answer about the key (a value or not-found), failures left out. */
  private answered?: DynamicResult;
  private readonly stopped = new AbortController();
  /** Settles when the first answer is in. */
  readonly ready: Promise<void>;

  constructor(
    readonly query: KvQuery,
    private readonly fetch: KvFetch,
    /** The key's value (or its absence, or a failure's kind) changed. */
    private readonly onChange: () => void,
    first: AbortSignal,
  ) {
    this.ready = this.first(first);
  }

  stop(): void {
    this.stopped.abort();
  }

  private async first(signal: AbortSignal): Promise<void> {
    const answer = await this.fetch(this.query, 0, AbortSignal.any([signal, this.stopped.signal]));
    this.result = answer.result;
    if (answers(answer.result)) this.answered = answer.result;
    this.index = answer.retry || answer.index === undefined ? 0 : Math.max(answer.index, 1);
    void this.loop(answer.retry ? 1 : 0);
  }

  private async loop(failures: number): Promise<void> {
    const signal = this.stopped.signal;
    let last = Date.now();
    while (!signal.aborted) {
      const pause = failures > 0 ? backoffMs(failures, 1000, 60_000) : Math.max(0, last + MIN_INTERVAL_MS - Date.now());
      await sleep(pause, signal);
      if (signal.aborted) return;
      last = Date.now();
      // An index below 1 would not block: such a query is a plain read
      const answer = await this.fetch(this.query, this.index >= 1 ? this.index : 0, signal);
      if (signal.aborted) return;
      if (answer.retry || answer.index === undefined) {
        failures++;
        this.index = 0;
      } else {
        failures = 0;
        // Backwards (a snapshot restored): start over with a plain read. Zero (a Consul bug, per
        // its docs) would make every query return at once: 1 blocks as intended.
        this.index = answer.index < this.index ? 0 : Math.max(answer.index, 1);
      }
      this.update(answer.result);
    }
  }

  /** Failures are kept as the result (the resolver keeps the last good value) but only a new
   * answer about the key itself (another value, or its removal) asks for a refresh. */
  private update(result: DynamicResult): void {
    this.result = result;
    if (!answers(result)) return;
    if (this.answered !== undefined && !same(this.answered, result)) this.onChange();
    this.answered = result;
  }
}

function answers(r: DynamicResult): boolean {
  return r.ok || r.failure === 'not-found';
}

function same(a: DynamicResult, b: DynamicResult): boolean {
  return a.ok && b.ok ? a.value === b.value : !a.ok && !b.ok;
}
