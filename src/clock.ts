// A monotonic clock in milliseconds. Not performance.now(): in the main bundle its first use
// loads perf_hooks and eight internal modules, about half a millisecond of start-up.
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
