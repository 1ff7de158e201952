// last-resort.ts: connected mode's policy for an exception or rejection nobody caught: one line,
// the session dropped; the same error in a loop is not a flood.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { installLastResort } from '../../../src/connection/last-resort.js';
import { type LogRecord, Logger } from '../../../src/log.js';

function setup() {
  const records: LogRecord[] = [];
  const logger = new Logger('debug', -1); // fd -1: nothing written, the sink sees it all
  logger.addSink((r) => records.push(r));
  const drops: string[] = [];
  const events = new EventEmitter();
  let clock = 0;
  const uninstall = installLastResort({ connection: { dropSession: (why) => drops.push(why) }, logger, now: () => clock, events });
  return { records, drops, events, uninstall, advance: (ms: number) => (clock += ms) };
}

describe('installLastResort', () => {
  it('an uncaught exception: one error line naming it, the session dropped', () => {
    const { records, drops, events } = setup();
    events.emit('uncaughtException', new TypeError('boom\nsecond line'));
    expect(records.map((r) => `${r.level}: ${r.message} ${r.fields.error}`)).toEqual([
      'error: internal error (uncaught exception); the server connection is re-established, the app keeps running TypeError: boom',
    ]);
    expect(drops).toEqual(['TypeError: boom\nsecond line']);
  });

  it('the same error again within a minute is debug; after it, or another error, an error line again', () => {
    const { records, drops, events, advance } = setup();
    events.emit('unhandledRejection', new Error('same'));
    advance(1_000);
    events.emit('unhandledRejection', new Error('same'));
    events.emit('unhandledRejection', 'a string reason');
    advance(61_000);
    events.emit('unhandledRejection', 'a string reason');
    expect(records.map((r) => r.level)).toEqual(['error', 'debug', 'error', 'error']);
    expect(records[2].message).toContain('unhandled rejection');
    expect(drops).toHaveLength(4);
  });

  it('a connection that throws on drop is no new fault; uninstalled, nothing is handled', () => {
    const records: LogRecord[] = [];
    const logger = new Logger('debug', -1);
    logger.addSink((r) => records.push(r));
    const events = new EventEmitter();
    const uninstall = installLastResort({
      connection: {
        dropSession: () => {
          throw new Error('closed');
        },
      },
      logger,
      events,
    });
    expect(() => events.emit('uncaughtException', new Error('x'))).not.toThrow();
    uninstall();
    expect(events.listenerCount('uncaughtException') + events.listenerCount('unhandledRejection')).toBe(0);
    expect(records).toHaveLength(1);
  });
});
