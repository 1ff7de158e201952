// How `waypoint-ctl logs` prints lines: RFC 3339 with nanoseconds for --json, ms for people.
import { describe, expect, it } from 'vitest';
import { humanLine, jsonLine, rfc3339Nano } from '../../src/ctl/log-format.js';

const line = { instance_id: 'I1', app: 'web', timestamp: { seconds: '1767323045', nanos: 6_000_789 }, source: 'ENTRYPOINT' as const, line: 'hi "there"' };

describe('log format', () => {
  it('rfc3339Nano keeps nine digits, so equal-width strings sort as times', () => {
    expect(rfc3339Nano(1767323045, 6_000_789)).toBe('2026-01-02T03:04:05.006000789Z');
    expect(rfc3339Nano(0, 0)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(rfc3339Nano(1, 999_999_999) < rfc3339Nano(2, 0)).toBe(true);
  });

  it('jsonLine is one object with instance_id, app, timestamp, source and line', () => {
    expect(JSON.parse(jsonLine(line))).toEqual({
      instance_id: 'I1',
      app: 'web',
      timestamp: '2026-01-02T03:04:05.006000789Z',
      source: 'entrypoint',
      line: 'hi "there"',
    });
  });

  it('humanLine shows time (ms), instance, source and the text', () => {
    expect(humanLine(line)).toBe('2026-01-02T03:04:05.006Z I1 entrypoint hi "there"');
    expect(humanLine({ ...line, source: 'APP' })).toBe('2026-01-02T03:04:05.006Z I1 app        hi "there"');
  });
});
