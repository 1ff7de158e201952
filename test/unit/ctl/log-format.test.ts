// How `waypoint-ctl logs` prints lines: RFC 3339 with nanoseconds for --json, ms for people.
import { describe, expect, it } from 'vitest';
import { humanLine, jsonLine, rfc3339Nano } from '../../../src/ctl/log-format.js';

const line = { instance_id: 'I1', app: 'web', timestamp: { seconds: '1767323045', nanos: 6_000_789 }, source: 'ENTRYPOINT' as const, line: 'hi "there"', deployment_id: '', cursor: '' };

describe('log format', () => {
  it('rfc3339Nano keeps nine digits, so equal-width strings sort as times', () => {
    expect(rfc3339Nano(1767323045, 6_000_789)).toBe('2026-01-02T03:04:05.006000789Z');
    expect(rfc3339Nano(0, 0)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(rfc3339Nano(1, 999_999_999)! < rfc3339Nano(2, 0)!).toBe(true);
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

  it('M6: a timestamp that is no time never throws: a placeholder for people, null in --json', () => {
    const bad: Array<[string, number]> = [
      [String(2 ** 53), 0], // the audit's line: RangeError in toISOString before
      ['-99999999999999', 0],
      ['1700000000', -5],
      ['1700000000', 1_000_000_000],
      ['253402300800', 0], // year 10000: no longer RFC 3339's four-digit year
      ['NaN', 0],
    ];
    for (const [seconds, nanos] of bad) {
      const l = { ...line, timestamp: { seconds, nanos } };
      expect(rfc3339Nano(Number(seconds), nanos)).toBeUndefined();
      expect(JSON.parse(jsonLine(l)).timestamp).toBeNull();
      expect(humanLine(l)).toBe('(invalid time)           I1 entrypoint hi "there"');
    }
    expect(rfc3339Nano(253402300799, 999_999_999)).toBe('9999-12-31T23:59:59.999999999Z');
    expect(rfc3339Nano(-62135596800, 0)).toBe('0001-01-01T00:00:00.000000000Z');
  });

  it('L6: control characters in the line and the instance id are shown escaped; --json keeps them exact', () => {
    const evil = { ...line, instance_id: 'I\x1b[2J', line: 'esc \x1b]0;PWNED\x07 \x1b[2J cleared? \r over\nfake line\x9b\u202e\ttab' };
    const human = humanLine(evil);
    expect(human).toBe('2026-01-02T03:04:05.006Z I\\e[2J entrypoint esc \\e]0;PWNED\\x07 \\e[2J cleared? \\r over\\nfake line\\x9b\\u202e\ttab');
    expect(human).not.toMatch(/[\x00-\x08\x0a-\x1f\x7f-\x9f\u202e]/);
    expect(JSON.parse(jsonLine(evil))).toMatchObject({ instance_id: evil.instance_id, line: evil.line });
  });
});
