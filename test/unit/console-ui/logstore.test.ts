// What the logs page holds: the history first, then the stream's lines without the ones the
// history had; the text filter; the counts of what was lost.
import { describe, expect, it } from 'vitest';
import { emptyFilter, matches, parseNdjson, serverQuery, textLine, timeOfDay } from '../../../src/console-ui/logfmt.js';
import { LogStore } from '../../../src/console-ui/logstore.js';
import type { LogLine } from '../../../src/console-ui/types.js';

const line = (id: number, text = `line ${id}`, o: Partial<LogLine> = {}): LogLine => ({
  id: String(id),
  app: 'web',
  deploymentId: 'd1',
  instanceId: 'i1',
  source: 'app',
  stream: 'stdout',
  timestamp: Date.UTC(2026, 0, 2, 3, 4, 5, 67),
  line: text,
  ...o,
});

const texts = (s: LogStore) => s.visibleLines().map((l) => l.line);

describe('LogStore', () => {
  it('holds stream lines until the history is in, then drops those the history had', () => {
    const s = new LogStore(emptyFilter);
    s.add(line(3));
    s.add(line(4));
    expect(s.waitingForHistory).toBe(true);
    expect(s.view.length).toBe(0);
    s.history([line(1), line(2), line(3)]);
    expect(texts(s)).toEqual(['line 1', 'line 2', 'line 3', 'line 4']);
    s.add(line(5));
    expect(texts(s)).toEqual(['line 1', 'line 2', 'line 3', 'line 4', 'line 5']);
  });

  it('goes on with the stream alone when the history could not be read', () => {
    const s = new LogStore(emptyFilter);
    s.add(line(7));
    s.history(null);
    s.add(line(8));
    expect(texts(s)).toEqual(['line 7', 'line 8']);
  });

  it('filters by text (any case) over what it keeps, and counts lines pushed out', () => {
    const s = new LogStore(emptyFilter, 3);
    s.history([]);
    for (const t of ['GET /a', 'POST /b', 'get /c', 'GET /d']) s.add(line(Number(Math.random() * 1e9), t));
    expect(s.evicted).toBe(1);
    s.setText('get');
    expect(texts(s)).toEqual(['get /c', 'GET /d']);
    s.add(line(99, 'get /e'));
    expect(texts(s)).toEqual(['get /c', 'GET /d', 'get /e']);
    s.setText('');
    expect(texts(s)).toEqual(['get /c', 'GET /d', 'get /e']);
  });
});

describe('log filters and text', () => {
  it('matches every part of a filter', () => {
    const l = line(1, 'Hello', { instanceId: 'i2', source: 'entrypoint', stream: null });
    expect(matches(emptyFilter, l)).toBe(true);
    expect(matches({ ...emptyFilter, instance: 'i2', source: 'entrypoint', text: 'hell' }, l)).toBe(true);
    expect(matches({ ...emptyFilter, instance: 'i1' }, l)).toBe(false);
    expect(matches({ ...emptyFilter, source: 'app' }, l)).toBe(false);
    expect(matches({ ...emptyFilter, deployment: 'd2' }, l)).toBe(false);
    expect(matches({ ...emptyFilter, app: 'api' }, l)).toBe(false);
  });

  it('puts only the server-side parts in the query', () => {
    expect(serverQuery(emptyFilter)).toBe('');
    expect(serverQuery({ app: 'web', deployment: '', instance: 'i 1', source: 'app', text: 'x' }, { limit: '10' })).toBe('?app=web&instance=i+1&source=app&limit=10');
  });

  it('writes lines for a download and times of day in UTC', () => {
    expect(textLine(line(1, 'boom', { stream: 'stderr' }))).toBe('2026-01-02T03:04:05.067Z web i1 app/stderr boom');
    expect(textLine(line(1, 'started', { source: 'entrypoint', stream: null }))).toBe('2026-01-02T03:04:05.067Z web i1 entrypoint started');
    expect(timeOfDay(Date.UTC(2026, 0, 2, 3, 4, 5, 67))).toBe('03:04:05.067');
  });

  it('reads JSON lines, skipping blank ones', () => {
    expect(parseNdjson<{ a: number }>('{"a":1}\n\n{"a":2}\n')).toEqual([{ a: 1 }, { a: 2 }]);
    expect(() => parseNdjson('{"a":')).toThrow();
  });
});
