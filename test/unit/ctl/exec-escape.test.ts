// ssh's `~.` escape for `waypoint-ctl exec` on a terminal: only at the start of a line, `~~`
// for a literal tilde, a held tilde across chunks, and every other byte passed through as is.
import { describe, expect, it } from 'vitest';
import { EscapeDetector } from '../../../src/ctl/exec-escape.js';

/** Feeds the chunks in order; what was sent, and whether (and where) it closed. */
function feed(...chunks: string[]): { sent: string; close: boolean; at?: number } {
  const d = new EscapeDetector();
  let sent = '';
  for (const [i, c] of chunks.entries()) {
    const r = d.feed(Buffer.from(c, 'latin1'));
    sent += r.data.toString('latin1');
    if (r.close) return { sent, close: true, at: i };
  }
  return { sent, close: false };
}

describe('EscapeDetector', () => {
  it('closes on ~. as the very first input', () => {
    expect(feed('~.')).toEqual({ sent: '', close: true, at: 0 });
    expect(feed('~', '.')).toEqual({ sent: '', close: true, at: 1 });
  });

  it('closes on ~. right after Enter (CR in raw mode, LF in cooked mode), sending what came before', () => {
    expect(feed('ls\r~.')).toEqual({ sent: 'ls\r', close: true, at: 0 });
    expect(feed('ls\n', '~', '.')).toEqual({ sent: 'ls\n', close: true, at: 2 });
    expect(feed('a\r~.after')).toEqual({ sent: 'a\r', close: true, at: 0 });
  });

  it('ignores ~. in the middle of a line', () => {
    expect(feed('echo ~.')).toEqual({ sent: 'echo ~.', close: false });
    expect(feed('x', '~.')).toEqual({ sent: 'x~.', close: false });
  });

  it('sends one ~ for ~~ at the start of a line, and then is not at a line start', () => {
    expect(feed('~~')).toEqual({ sent: '~', close: false });
    expect(feed('~~.')).toEqual({ sent: '~.', close: false });
    expect(feed('\r~', '~', '.')).toEqual({ sent: '\r~.', close: false });
  });

  it('sends a held ~ with the byte after it when that is not an escape', () => {
    expect(feed('~a')).toEqual({ sent: '~a', close: false });
    const d = new EscapeDetector();
    expect(d.feed(Buffer.from('~')).data.toString()).toBe('');
    expect(d.feed(Buffer.from('x')).data.toString()).toBe('~x');
  });

  it('treats a newline after a held ~ as a new line start', () => {
    expect(feed('~\r~.')).toEqual({ sent: '~\r', close: true, at: 0 });
    expect(feed('~\r', '~', 'q')).toEqual({ sent: '~\r~q', close: false });
  });

  it('flushes a held ~ at the end of input, and nothing otherwise', () => {
    const d = new EscapeDetector();
    d.feed(Buffer.from('ok\r~'));
    expect(d.flush().toString()).toBe('~');
    expect(d.flush().length).toBe(0);
  });

  it('passes other bytes through unchanged, binary included', () => {
    const d = new EscapeDetector();
    d.feed(Buffer.from('x')); // not at a line start any more
    const bytes = Buffer.from([0, 1, 2, 0x7e, 0x2e, 0xff, 0x03]);
    expect(d.feed(bytes).data.equals(bytes)).toBe(true);
  });
});
