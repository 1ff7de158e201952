// The kept lines of several replicas merged for one reader: in time order, and lines of equal
// time in the order each replica gave them.
import { describe, expect, it } from 'vitest';
import { mergeByTime } from '../../../../src/server/logs/remote.js';
import type { LogEntry } from '../../../../src/server/logs/hub.js';

const at = (line: string, seconds: number, nanos = 0, seq = 0): LogEntry => ({ instanceId: 'i', app: 'web', deploymentId: '', seconds, nanos, source: 'app', line, seq });

describe('mergeByTime', () => {
  it('interleaves the replicas\' lines by timestamp', () => {
    const here = [at('a1', 1), at('a3', 3), at('a5', 5, 10)];
    const there = [at('b2', 2), at('b5', 5, 5), at('b6', 6)];
    expect(mergeByTime(here, there).map((e) => e.line)).toEqual(['a1', 'b2', 'a3', 'b5', 'a5', 'b6']);
  });

  it('keeps each replica\'s order among lines of the same time, whatever their arrival numbers', () => {
    const here = [at('a-first', 1, 0, 9), at('a-second', 1, 0, 2)];
    const there = [at('b-first', 1, 0, 0), at('b-second', 1, 0, 1)];
    expect(mergeByTime(here, there).map((e) => e.line)).toEqual(['a-first', 'a-second', 'b-first', 'b-second']);
  });
});
