// src/native/load.ts: the one line an addon that cannot be loaded gives. The directory advice
// only when directories were the problem; the C library named with the version needed.
import { describe, expect, it } from 'vitest';
import { describeLoadFailure, isDirectoryProblem, type LoadAttempt } from '../../../src/native/load.js';

const GLIBC_234 =
  "/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.34' not found (required by /tmp/.waypoint-entrypoint-x1/pty.node)";
const NOEXEC = '/dev/shm/.waypoint-entrypoint-x2/pty.node: failed to map segment from shared object';
const glibc231 = () => '2.31';

function attempt(dir: string | undefined, stage: 'write' | 'load', message: string, code?: string): LoadAttempt {
  return { dir, stage, error: { message, code } };
}

describe('addon load failures', () => {
  it('a missing glibc symbol version names glibc, the minimum and what this system has', () => {
    const msg = describeLoadFailure('pty', [attempt('/tmp', 'load', GLIBC_234)], glibc231);
    expect(msg).toBe(
      `cannot load the pty addon: it needs glibc 2.34 or newer (GLIBC_2.34 not found); this system has glibc 2.31: ` +
        `use a base image with glibc ≥ 2.34 (loader: ${GLIBC_234})`,
    );
    expect(msg).not.toContain('WAYPOINT_CEB_NATIVE_DIR');
    expect(msg).not.toContain('\n');
  });

  it('blames the C library even when an earlier directory could not be written', () => {
    const msg = describeLoadFailure(
      'posix',
      [attempt('/ro', 'write', "EACCES: permission denied, mkdtemp '/ro/.waypoint-entrypoint-XXXXXX'", 'EACCES'), attempt('/tmp', 'load', GLIBC_234)],
      () => undefined,
    );
    expect(msg).toMatch(/^cannot load the posix addon: it needs glibc 2\.34 or newer \(GLIBC_2\.34 not found\); this system has an older or no glibc/);
    expect(msg).not.toContain('WAYPOINT_CEB_NATIVE_DIR');
  });

  it('gives the directory advice when every directory failed as a directory (unwritable, noexec)', () => {
    const msg = describeLoadFailure(
      'pty',
      [attempt('/dev/shm', 'load', `${NOEXEC}\nmore`), attempt('/app', 'write', "EROFS: read-only file system, mkdtemp '/app/x'", 'EROFS')],
      glibc231,
    );
    expect(msg).toBe(
      'cannot load the pty addon: no writable, executable directory (set WAYPOINT_CEB_NATIVE_DIR to one); ' +
        `tried /dev/shm: ${NOEXEC}; /app: EROFS: read-only file system, mkdtemp '/app/x'`,
    );
  });

  it('any other refusal is the loader’s own reason, on one line', () => {
    const reason = '/x/pty.node: invalid ELF header';
    expect(describeLoadFailure('pty', [attempt('/tmp', 'load', `${reason}\n    at Object.dlopen`)], glibc231)).toBe(`cannot load the pty addon: ${reason}`);
    const cxx = "/lib/x86_64-linux-gnu/libstdc++.so.6: version `GLIBCXX_3.4.30' not found (required by /x/pty.node)";
    expect(describeLoadFailure('pty', [attempt(undefined, 'load', cxx)], glibc231)).toBe(
      `cannot load the pty addon: this system's libstdc++ lacks GLIBCXX_3.4.30 (loader: ${cxx})`,
    );
  });

  it('the npm package’s own file is never a directory problem', () => {
    expect(isDirectoryProblem(attempt(undefined, 'load', NOEXEC))).toBe(false);
    expect(isDirectoryProblem(attempt('/tmp', 'load', NOEXEC))).toBe(true);
    expect(isDirectoryProblem(attempt('/tmp', 'write', 'EACCES', 'EACCES'))).toBe(true);
    expect(isDirectoryProblem(attempt('/tmp', 'load', GLIBC_234))).toBe(false);
  });
});
