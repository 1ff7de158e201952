// How an exec that cannot run, or that ended, is reported: lookup failures as NOT_FOUND or
// PERMISSION_DENIED, spawn errnos, exit statuses (128+N for a signal), and the terminal size
// defaults of a request.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errnoCode, failure, lookupFailure, requestProblem } from '../../../src/exec/errors.js';
import { MAX_WINDOW_DIMENSION, windowSize } from '../../../src/exec/pty-runner.js';
import { EXEC_ERROR_CODE } from '../../../src/protocol/exec-status.js';
import { resolveCommand } from '../../../src/supervisor/command.js';
import { exitStatus } from '../../../src/supervisor/signals.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-exec-unit-'));
  writeFileSync(path.join(dir, 'plain'), 'echo hi\n');
  chmodSync(path.join(dir, 'plain'), 0o644);
  mkdirSync(path.join(dir, 'folder'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function refused(command: string, envPath = dir) {
  const found = resolveCommand(command, envPath, dir);
  if (found.ok) throw new Error(`${command} was found`);
  return lookupFailure(command, found);
}

describe('exec start failures', () => {
  it('a command not on PATH, or a missing path, is NOT_FOUND', () => {
    expect(refused('no-such-command')).toEqual({ code: EXEC_ERROR_CODE.NOT_FOUND, message: 'no-such-command: command not found' });
    expect(refused('./missing')).toEqual({ code: EXEC_ERROR_CODE.NOT_FOUND, message: './missing: no such file or directory' });
  });

  it('a file that is not executable, or a directory, is PERMISSION_DENIED', () => {
    expect(refused('plain').code).toBe(EXEC_ERROR_CODE.PERMISSION_DENIED);
    expect(refused('./plain').code).toBe(EXEC_ERROR_CODE.PERMISSION_DENIED);
    expect(refused('./folder')).toEqual({ code: EXEC_ERROR_CODE.PERMISSION_DENIED, message: './folder: is a directory' });
  });

  it('spawn errnos map to the same codes, anything else to INTERNAL', () => {
    expect(errnoCode(constants.errno.ENOENT)).toBe(EXEC_ERROR_CODE.NOT_FOUND);
    expect(errnoCode(constants.errno.EACCES)).toBe(EXEC_ERROR_CODE.PERMISSION_DENIED);
    expect(errnoCode(constants.errno.EISDIR)).toBe(EXEC_ERROR_CODE.PERMISSION_DENIED);
    expect(errnoCode(constants.errno.EAGAIN)).toBe(EXEC_ERROR_CODE.INTERNAL);
    expect(errnoCode(undefined)).toBe(EXEC_ERROR_CODE.INTERNAL);
  });

  it('H1: a NUL in the command is INVALID_ARGUMENT; a name under a file or too long is NOT_FOUND in the shell\'s words', () => {
    expect(refused('ls\0x')).toEqual({ code: EXEC_ERROR_CODE.INVALID_ARGUMENT, message: 'ls\0x: the name contains a NUL byte' });
    expect(refused(path.join(dir, 'plain', 'x'))).toEqual({
      code: EXEC_ERROR_CODE.NOT_FOUND,
      message: `${path.join(dir, 'plain', 'x')}: not a directory`,
    });
    expect(refused('a'.repeat(300)).code).toBe(EXEC_ERROR_CODE.NOT_FOUND);
    expect(refused('sh', `${path.join(dir, 'plain')}:${dir}`).code).toBe(EXEC_ERROR_CODE.NOT_FOUND);
  });

  it('L10: no command, or a NUL in any argument or in TERM, is refused before anything runs', () => {
    expect(requestProblem([], undefined)).toMatch(/no command/);
    expect(requestProblem(['ls\0x'], undefined)).toBe('the command name contains a NUL byte, which a command line cannot hold');
    expect(requestProblem(['ls', '-l', 'a\0b'], undefined)).toBe('argument 2 contains a NUL byte, which a command line cannot hold');
    expect(requestProblem(['ls'], 'xterm\0evil')).toBe('TERM contains a NUL byte, which an environment cannot hold');
    expect(requestProblem(['ls', '-l'], 'xterm')).toBeUndefined();
    expect(requestProblem([''], undefined)).toBeUndefined(); // the lookup says "empty command name"
  });

  it('the error message carries a google.rpc.Status', () => {
    expect(failure(EXEC_ERROR_CODE.UNAVAILABLE, 'bye')).toEqual({ error: { error: { code: 14, message: 'bye' } } });
  });
});

describe('exec exit statuses and sizes', () => {
  it('an exit code as is, a signal as 128+N', () => {
    expect(exitStatus(0, null)).toBe(0);
    expect(exitStatus(7, null)).toBe(7);
    expect(exitStatus(null, 9)).toBe(137);
    expect(exitStatus(0, 2)).toBe(130); // node-pty reports code 0 with the signal
    expect(exitStatus(null, 'SIGTERM')).toBe(143);
    expect(exitStatus(3, 0)).toBe(3); // node-pty's "no signal"
  });

  it('a zero or missing terminal dimension takes the 80x24 default', () => {
    expect(windowSize(null)).toEqual({ rows: 24, cols: 80 });
    expect(windowSize({ rows: 0, cols: 0 })).toEqual({ rows: 24, cols: 80 });
    expect(windowSize({ rows: 50, cols: 0 })).toEqual({ rows: 50, cols: 80 });
    expect(windowSize({ rows: 33, cols: 101 })).toEqual({ rows: 33, cols: 101 });
    expect(windowSize({ rows: -1, cols: 200 })).toEqual({ rows: 24, cols: 200 });
  });

  it('L10: a dimension beyond the largest terminal is clamped, never wrapped by the kernel (70000 → 4464)', () => {
    expect(MAX_WINDOW_DIMENSION).toBeLessThan(65536);
    expect(windowSize({ rows: 70000, cols: 70000 })).toEqual({ rows: MAX_WINDOW_DIMENSION, cols: MAX_WINDOW_DIMENSION });
    expect(windowSize({ rows: 2 ** 31 - 1, cols: -(2 ** 31) })).toEqual({ rows: MAX_WINDOW_DIMENSION, cols: 80 });
  });
});
