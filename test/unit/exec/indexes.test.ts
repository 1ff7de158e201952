// Which exec requests are new: once per index per session; a config that arrives before its
// session is announced is held for it; nothing carries over to the next session.
import { describe, expect, it } from 'vitest';
import { ExecIndexes } from '../../../src/exec/indexes.js';

const entry = (index: number, tag = '') => ({ index: String(index), tag });
const indexes = (list: Array<{ index: string }> | undefined) => list?.map((e) => e.index);

describe('exec index tracking', () => {
  it('opens each index once per session, however often the list repeats it', () => {
    const t = new ExecIndexes<string, ReturnType<typeof entry>>();
    expect(t.sessionStarted('s1')).toEqual([]);
    expect(indexes(t.config([entry(1), entry(2)])?.entries)).toEqual(['1', '2']);
    expect(t.config([entry(1), entry(2)])).toEqual({ session: 's1', entries: [] });
    const next = t.config([entry(2), entry(3)]);
    expect(next?.session).toBe('s1');
    expect(indexes(next?.entries)).toEqual(['3']);
    expect(indexes(t.config([entry(4), entry(4)])?.entries)).toEqual(['4']);
  });

  it('holds a config that came before its session was announced, and opens it on that session', () => {
    const t = new ExecIndexes<string, ReturnType<typeof entry>>();
    expect(t.config([entry(1)])).toBeUndefined();
    expect(t.config([entry(1), entry(2)])).toBeUndefined(); // the latest list is what counts
    expect(indexes(t.sessionStarted('s1'))).toEqual(['1', '2']);
    expect(t.config([entry(1), entry(2)])?.entries).toEqual([]);
  });

  it('starts a fresh set on a new session: a reused index opens again', () => {
    const t = new ExecIndexes<string, ReturnType<typeof entry>>();
    t.sessionStarted('s1');
    expect(indexes(t.config([entry(1)])?.entries)).toEqual(['1']);
    t.sessionEnded('s1');
    // Between sessions: held for the next one, never opened on the old one.
    expect(t.config([entry(1, 'new')])).toBeUndefined();
    const opened = t.sessionStarted('s2');
    expect(opened).toEqual([entry(1, 'new')]);
    expect(t.config([entry(1, 'new')])?.entries).toEqual([]);
  });

  it('hands what was held to the next session only', () => {
    const t = new ExecIndexes<string, ReturnType<typeof entry>>();
    t.sessionStarted('s1');
    t.sessionEnded('s1');
    t.config([entry(7)]);
    expect(indexes(t.sessionStarted('s2'))).toEqual(['7']);
    t.sessionEnded('s2');
    expect(t.sessionStarted('s3')).toEqual([]);
  });

  it('ignores the end of a session that is not the current one', () => {
    const t = new ExecIndexes<string, ReturnType<typeof entry>>();
    t.sessionStarted('s1');
    t.sessionStarted('s2');
    t.sessionEnded('s1');
    expect(t.config([entry(1)])?.session).toBe('s2');
  });
});
