// The server's checks of an instance status report (src/server/api/status/service.ts): only the
// known states, the message bounded to 1 KiB of UTF-8 cut at a character, the time never ahead
// of the server's.
import { describe, expect, it } from 'vitest';
import { checkStatusReport, MAX_STATUS_MESSAGE_BYTES, truncateUtf8 } from '../../../../src/server/api/status/service.js';
import { Status } from '../../../../src/server/rpc/status.js';
import { toTimestamp } from '../../../../src/protocol/timestamp.js';

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const report = (over: Record<string, unknown> = {}) =>
  ({ state: 'CONFIG_REFUSED', message: 'x', since: toTimestamp(NOW - 1000), ...over }) as Parameters<typeof checkStatusReport>[0];

function refusal(over: Record<string, unknown>): { code: number; message: string } {
  try {
    checkStatusReport(report(over), NOW);
  } catch (err) {
    return err as { code: number; message: string };
  }
  throw new Error('expected a refusal');
}

describe('checkStatusReport', () => {
  it('takes the three states, with the message and the instance’s time', () => {
    for (const state of ['RUNNING', 'CONFIG_REFUSED', 'RESTART_FAILED']) {
      expect(checkStatusReport(report({ state }), NOW)).toEqual({ state, message: 'x', since: NOW - 1000 });
    }
  });

  it('refuses UNSPECIFIED, an unknown number (as protobufjs decodes one) and any other name with INVALID_ARGUMENT', () => {
    for (const state of ['INSTANCE_STATE_UNSPECIFIED', 7, 'running', '', 'RUNNING\n'.repeat(100)]) {
      const err = refusal({ state });
      expect(err.code).toBe(Status.INVALID_ARGUMENT);
      expect(err.message).toMatch(/^unknown instance state .*: one of RUNNING, CONFIG_REFUSED, RESTART_FAILED$/);
      expect(err.message.length).toBeLessThan(150); // the bad value is quoted in part only
    }
  });

  it('bounds the message to MAX_STATUS_MESSAGE_BYTES, marked, never splitting a character', () => {
    expect(MAX_STATUS_MESSAGE_BYTES).toBe(1024);
    const exact = 'a'.repeat(1024);
    expect(checkStatusReport(report({ message: exact }), NOW).message).toBe(exact);
    const long = checkStatusReport(report({ message: 'a'.repeat(1_000_000) }), NOW).message;
    expect(Buffer.byteLength(long)).toBe(1024);
    expect(long.endsWith('a…')).toBe(true);
    // 3-byte and 4-byte characters: cut before the one that would not fit whole.
    for (const c of ['€', '😀']) {
      const cut = truncateUtf8(c.repeat(1000), 1024);
      expect(Buffer.byteLength(cut)).toBeLessThanOrEqual(1024);
      expect(cut).toBe(c.repeat(Math.floor((1024 - 3) / Buffer.byteLength(c))) + '…');
      expect(Buffer.from(cut).toString()).toBe(cut); // valid UTF-8: no lone surrogate
    }
  });

  it('takes a time ahead of the server’s, or none, or garbage, as now', () => {
    expect(checkStatusReport(report({ since: toTimestamp(NOW + 60_000) }), NOW).since).toBe(NOW);
    expect(checkStatusReport(report({ since: null }), NOW).since).toBe(NOW);
    expect(checkStatusReport(report({ since: { seconds: '-5', nanos: 0 } }), NOW).since).toBe(NOW);
    expect(checkStatusReport(report({ since: { seconds: '99999999999999999999', nanos: 0 } }), NOW).since).toBe(NOW);
  });
});
