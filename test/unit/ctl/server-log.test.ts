// The ctl's pino log for the server: its redaction of secret-bearing fields, and its formats.
import { describe, expect, it } from 'vitest';
import { CENSOR, defaultLogFormat, fromPino, parseServerLogFormat, pinoLogger } from '../../../src/ctl/log.js';

function capture(level: 'trace' | 'info' = 'trace') {
  const lines: string[] = [];
  const log = fromPino(pinoLogger({ level, format: 'json', destination: { write: (l: string) => void lines.push(l) } }));
  return { log, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the server log (pino)', () => {
  it('redacts every secret-bearing field, at the top and one level down, and keeps ids', () => {
    const { log, records } = capture();
    log.debug('call', {
      token: 'wp1.a.b',
      invite_token: 'wp1.c.d',
      authorization: 'Bearer wp1.e.f',
      value: 'hunter2',
      token_id: '01ABC',
      nested: { token: 'wp1.g.h', value: 'hunter3', name: 'DB_PASS' },
    } as never);
    const [r] = records();
    expect(r).toMatchObject({
      level: 20,
      name: 'waypoint-ctl',
      msg: 'call',
      token: CENSOR,
      invite_token: CENSOR,
      authorization: CENSOR,
      value: CENSOR,
      token_id: '01ABC',
      nested: { token: CENSOR, value: CENSOR, name: 'DB_PASS' },
    });
    expect(JSON.stringify(records())).not.toMatch(/wp1\.|hunter/);
  });

  it('keeps to its level and writes arrays as JSON arrays', () => {
    const { log, records } = capture('info');
    log.debug('hidden');
    log.info('config set', { event: 'config.set', names: ['A', 'B'] });
    expect(records()).toEqual([expect.objectContaining({ level: 30, event: 'config.set', names: ['A', 'B'] })]);
  });

  it('defaults to JSON off a terminal and pretty on one; --log-format takes json or pretty', () => {
    expect(defaultLogFormat(false)).toBe('json');
    expect(defaultLogFormat(true)).toBe('pretty');
    expect(parseServerLogFormat('--log-format', 'pretty')).toBe('pretty');
    expect(() => parseServerLogFormat('--log-format', 'text')).toThrow('--log-format must be json or pretty, got "text"');
  });
});
