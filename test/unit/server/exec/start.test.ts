// What an operator's exec start may ask (server/exec/start.ts), without a server: an app or an
// instance, a command line the OS can run, a terminal a pty can be; each refusal one
// INVALID_ARGUMENT that says what to change, and the pty the entrypoint is asked for.
import { describe, expect, it } from 'vitest';
import type { ExecStart__Output } from '../../../../src/protocol/generated/waypoint_entrypoint/control/v1/ExecStart.js';
import { checkStart, ptyFor } from '../../../../src/server/exec/start.js';
import { type RpcError, Status } from '../../../../src/server/rpc/status.js';

function start(over: Partial<ExecStart__Output> = {}): ExecStart__Output {
  return { app: 'web', instance_id: '', args: ['sh'], tty: false, term: '', window_size: null, ...over };
}

function refusal(s: ExecStart__Output): RpcError {
  try {
    checkStart(s);
  } catch (err) {
    return err as RpcError;
  }
  throw new Error(`expected ${JSON.stringify(s).slice(0, 200)} to be refused`);
}

const size = (rows: number, cols: number, width = 0, height = 0) => ({ rows, cols, width, height });

describe('checkStart', () => {
  it('takes an app or an instance with a command, with or without a terminal', () => {
    expect(() => checkStart(start())).not.toThrow();
    expect(() => checkStart(start({ app: '', instance_id: '01HINSTANCE' }))).not.toThrow();
    expect(() => checkStart(start({ tty: true, term: 'xterm-256color', window_size: size(24, 80, 640, 480) }))).not.toThrow();
    expect(() => checkStart(start({ tty: true, window_size: size(0, 0) }))).not.toThrow(); // 0 x 0: unknown
    expect(() => checkStart(start({ tty: true, window_size: size(65_535, 65_535, 65_535, 65_535) }))).not.toThrow();
  });

  it('refuses a target that is both, neither, or no valid name', () => {
    expect(refusal(start({ instance_id: 'i1' }))).toMatchObject({ code: Status.INVALID_ARGUMENT, message: 'give an app or an instance, not both' });
    expect(refusal(start({ app: '' })).message).toBe('give an app or an instance to run the command in');
    expect(refusal(start({ app: 'no spaces' })).message).toBe('invalid app name "no spaces"');
    expect(refusal(start({ app: '', instance_id: 'bad id' })).message).toMatch(/^Exec: invalid instance id "bad id"/);
  });

  it('refuses a command line no process could be started with', () => {
    expect(refusal(start({ args: [] })).message).toBe('exec needs a command: give its args');
    expect(refusal(start({ args: [''] })).message).toBe('exec needs a command: give its args');
    expect(refusal(start({ args: ['echo', 'a\0b'] })).message).toBe('arg 1 holds a NUL character, which no command can receive: remove it');
    expect(refusal(start({ args: ['echo', 'x'.repeat(256 * 1024)] })).message).toBe('the command line is too long: at most 256 KiB');
  });

  it('refuses a terminal no pty can be, only when a terminal is asked for', () => {
    const term = 'invalid TERM: at most 256 printable ASCII characters, no NUL, space or control character';
    expect(refusal(start({ tty: true, term: 'xterm 256' })).message).toBe(term);
    expect(refusal(start({ tty: true, term: 'x'.repeat(257) })).message).toBe(term);
    expect(refusal(start({ tty: true, window_size: size(0, 80) })).message).toBe('invalid window size 0x80: rows and cols must be 1 to 65535');
    expect(refusal(start({ tty: true, window_size: size(24, 70_000) })).message).toBe('invalid window size 24x70000: rows and cols must be 1 to 65535');
    expect(refusal(start({ tty: true, window_size: size(24, 80, -1, 0) })).message).toBe('invalid window size in pixels -1x0: 0 (unknown) to 65535');
    expect(() => checkStart(start({ tty: false, term: 'xterm 256', window_size: size(0, 80) }))).not.toThrow();
  });
});

describe('ptyFor', () => {
  it('asks for no pty without a terminal, and for TERM (xterm-256color by default) and the size with one', () => {
    expect(ptyFor(start())).toEqual({ enable: false, term: '' });
    expect(ptyFor(start({ tty: true }))).toEqual({ enable: true, term: 'xterm-256color' });
    expect(ptyFor(start({ tty: true, term: 'vt100', window_size: size(24, 80, 640, 480) }))).toEqual({
      enable: true,
      term: 'vt100',
      window_size: { rows: 24, cols: 80, width: 640, height: 480 },
    });
  });
});
