// The terminal page's command box and the exec WebSocket's messages.
import { describe, expect, it } from 'vitest';
import { splitArgs } from '../../../src/console-ui/args.js';
import { eofMessage, parseServerMessage, resizeMessage, startMessage } from '../../../src/console-ui/exec-protocol.js';
import { href, parseRoute } from '../../../src/console-ui/route.js';

describe('splitArgs', () => {
  it('splits words and keeps quoted spaces, as a shell would without expansion', () => {
    expect(splitArgs('')).toEqual([]);
    expect(splitArgs('   ')).toEqual([]);
    expect(splitArgs('sh -c "echo $((6*7))"')).toEqual(['sh', '-c', 'echo $((6*7))']);
    expect(splitArgs(`ls  -la 'a b' c\\ d ""`)).toEqual(['ls', '-la', 'a b', 'c d', '']);
    expect(splitArgs('echo "say \\"hi\\"" it\'s\'')).toEqual(['echo', 'say "hi"', 'its']);
  });

  it('refuses an unclosed quote with what to do', () => {
    expect(() => splitArgs('echo "oops')).toThrow('the command has an unclosed ": close it or remove it');
  });
});

describe('exec messages', () => {
  it('start, resize and eof are the contract JSON', () => {
    expect(JSON.parse(startMessage({ app: 'web', args: [], tty: true, cols: 80, rows: 24 }))).toEqual({
      type: 'start',
      app: 'web',
      args: [],
      tty: true,
      cols: 80,
      rows: 24,
      term: 'xterm-256color',
    });
    expect(JSON.parse(startMessage({ app: 'web', instance: 'i1', args: ['sh'], tty: false, cols: 1, rows: 1 })).instance).toBe('i1');
    expect(JSON.parse(resizeMessage(120, 40))).toEqual({ type: 'resize', cols: 120, rows: 40 });
    expect(JSON.parse(eofMessage())).toEqual({ type: 'eof' });
  });

  it('reads output frames by their first byte and the text messages', () => {
    const out = parseServerMessage(new Uint8Array([1, 104, 105]).buffer);
    expect(out).toEqual({ type: 'output', stream: 'stdout', data: new Uint8Array([104, 105]) });
    expect(parseServerMessage(new Uint8Array([2, 33]))).toMatchObject({ type: 'output', stream: 'stderr' });
    expect(parseServerMessage(new Uint8Array([9, 33]))).toEqual({ type: 'error', error: 'the server sent output of an unknown stream (9)' });
    expect(parseServerMessage('{"type":"started","instanceId":"i1","sessionId":4}')).toEqual({ type: 'started', instanceId: 'i1', sessionId: 4 });
    expect(parseServerMessage('{"type":"exit","code":130}')).toEqual({ type: 'exit', code: 130 });
    expect(parseServerMessage('{"type":"error","error":"no instance of web is connected"}')).toEqual({ type: 'error', error: 'no instance of web is connected' });
    expect(parseServerMessage('nope')).toEqual({ type: 'error', error: 'the server sent a message that is not JSON' });
    expect(parseServerMessage('{"type":"what"}')).toEqual({ type: 'error', error: 'the server sent an unknown message (what)' });
  });
});

describe('routes', () => {
  it('names a page by its path; / and unknown paths are the instances page', () => {
    expect(parseRoute('/', '').page).toBe('instances');
    expect(parseRoute('/nope', '').page).toBe('instances');
    expect(parseRoute('/exec-history/', '?app=web').page).toBe('exec-history');
    expect(parseRoute('/logs', '?app=web&instance=i1').query.get('instance')).toBe('i1');
    expect(href('logs', { app: 'web', instance: undefined, text: 'a b' })).toBe('/logs?app=web&text=a+b');
    expect(href('urls')).toBe('/urls');
  });
});
