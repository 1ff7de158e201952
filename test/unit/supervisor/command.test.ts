// Command lookup (as execvp and a shell do it, so that 127 and 126 are told apart), exit status
// conventions, and the environment handed to the app.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EXIT_NOT_EXECUTABLE, EXIT_NOT_FOUND, resolveCommand } from '../../../src/supervisor/command.js';
import { childEnv, SAVED_NODE_OPTIONS, SECRET_VARS } from '../../../src/supervisor/env.js';
import { exitStatus, FORWARDED_SIGNALS, signalName, signalNumber, STOP_SIGNALS } from '../../../src/supervisor/signals.js';

describe('resolveCommand', () => {
  let tmp: string;
  const dir = (name: string) => {
    const d = path.join(tmp, name);
    mkdirSync(d, { recursive: true });
    return d;
  };
  const file = (at: string, mode: number) => {
    writeFileSync(at, '#!/bin/sh\nexit 0\n');
    chmodSync(at, mode);
    return at;
  };

  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'wp-command-'));
  });
  afterEach(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  it('finds an executable on PATH and returns its absolute path', () => {
    const bin = dir('bin');
    file(path.join(bin, 'app'), 0o755);
    expect(resolveCommand('app', `/nonexistent:${bin}`, '/')).toEqual({ ok: true, path: path.join(bin, 'app') });
  });

  it('takes the first executable match in PATH order', () => {
    const a = dir('a');
    const b = dir('b');
    file(path.join(a, 'app'), 0o755);
    file(path.join(b, 'app'), 0o755);
    expect(resolveCommand('app', `${a}:${b}`, '/')).toEqual({ ok: true, path: path.join(a, 'app') });
    expect(resolveCommand('app', `${b}:${a}`, '/')).toEqual({ ok: true, path: path.join(b, 'app') });
  });

  it('prefers a later executable entry over an earlier non-executable one', () => {
    const a = dir('a');
    const b = dir('b');
    file(path.join(a, 'app'), 0o644);
    file(path.join(b, 'app'), 0o755);
    expect(resolveCommand('app', `${a}:${b}`, '/')).toEqual({ ok: true, path: path.join(b, 'app') });
  });

  it('skips a directory of the same name on PATH', () => {
    const a = dir('a');
    const b = dir('b');
    mkdirSync(path.join(a, 'app'));
    file(path.join(b, 'app'), 0o755);
    expect(resolveCommand('app', `${a}:${b}`, '/')).toEqual({ ok: true, path: path.join(b, 'app') });
  });

  it('reports 127 "command not found" when no PATH entry has it', () => {
    const a = dir('a');
    expect(resolveCommand('nosuch', `${a}:/nonexistent`, '/')).toEqual({
      ok: false,
      exitCode: EXIT_NOT_FOUND,
      reason: 'command not found',
    });
    expect(EXIT_NOT_FOUND).toBe(127);
  });

  it('reports 127 when the only match on PATH is a directory', () => {
    const a = dir('a');
    mkdirSync(path.join(a, 'app'));
    const r = resolveCommand('app', a, '/');
    expect(r).toMatchObject({ ok: false, exitCode: 127 });
  });

  it('reports 126 when the only match on PATH is not executable', () => {
    const a = dir('a');
    file(path.join(a, 'app'), 0o644);
    const r = resolveCommand('app', `/nonexistent:${a}`, '/');
    expect(r).toMatchObject({ ok: false, exitCode: EXIT_NOT_EXECUTABLE });
    expect(EXIT_NOT_EXECUTABLE).toBe(126);
    expect(r.ok ? '' : r.reason).toMatch(/permission denied/);
  });

  it('treats an empty PATH entry as the working directory', () => {
    const work = dir('work');
    file(path.join(work, 'app'), 0o755);
    for (const envPath of [':/nonexistent', '/nonexistent:', '/nonexistent::/also-not']) {
      expect(resolveCommand('app', envPath, work)).toEqual({ ok: true, path: path.join(work, 'app') });
    }
  });

  it('does not search the working directory without an empty PATH entry', () => {
    const work = dir('work');
    file(path.join(work, 'app'), 0o755);
    expect(resolveCommand('app', '/nonexistent', work)).toMatchObject({ ok: false, exitCode: 127 });
  });

  it('resolves relative PATH entries against the working directory', () => {
    const work = dir('work');
    mkdirSync(path.join(work, 'rel'));
    file(path.join(work, 'rel', 'app'), 0o755);
    expect(resolveCommand('app', 'rel', work)).toEqual({ ok: true, path: path.join(work, 'rel', 'app') });
  });

  it('returns the same normalised path for every way of writing an absolute PATH entry', () => {
    const bin = dir('bin');
    file(path.join(bin, 'app'), 0o755);
    dir('other');
    const spellings = [bin, `${bin}/`, `${bin}//`, bin.replace(/\/bin$/, '//bin'), bin.replace(/\/bin$/, '/./bin'), `${path.join(tmp, 'other')}/../bin`, `${bin}/.`];
    for (const entry of spellings) {
      expect({ entry, found: resolveCommand('app', entry, '/') }).toEqual({ entry, found: { ok: true, path: path.join(bin, 'app') } });
    }
  });

  it('uses the default search path when PATH is unset', () => {
    const r = resolveCommand('sh', undefined, '/');
    expect(r.ok).toBe(true);
    expect(r.ok && r.path).toMatch(/^\/(usr\/(local\/)?)?bin\/sh$/);
  });

  it('uses a name with a slash as is, without searching PATH', () => {
    const a = dir('a');
    file(path.join(a, 'app'), 0o755);
    const onPath = dir('onpath');
    file(path.join(onPath, 'app'), 0o755);
    expect(resolveCommand(path.join(a, 'app'), onPath, '/')).toEqual({ ok: true, path: path.join(a, 'app') });
    // relative to the working directory, kept as the user wrote it
    expect(resolveCommand('./app', onPath, a)).toEqual({ ok: true, path: './app' });
    expect(resolveCommand('a/app', onPath, tmp)).toEqual({ ok: true, path: 'a/app' });
    // not found there: no fallback to PATH
    expect(resolveCommand('./app', onPath, tmp)).toMatchObject({ ok: false, exitCode: 127 });
  });

  it('reports 127 "no such file" for a missing slash path', () => {
    expect(resolveCommand(path.join(tmp, 'missing'), '/usr/bin', '/')).toEqual({
      ok: false,
      exitCode: 127,
      reason: 'no such file or directory',
    });
  });

  it('reports 127 for a dangling symlink and follows a good one', () => {
    const a = dir('a');
    symlinkSync(path.join(tmp, 'nowhere'), path.join(a, 'dangling'));
    file(path.join(a, 'real'), 0o755);
    symlinkSync(path.join(a, 'real'), path.join(a, 'link'));
    expect(resolveCommand('dangling', a, '/')).toMatchObject({ ok: false, exitCode: 127 });
    expect(resolveCommand('link', a, '/')).toEqual({ ok: true, path: path.join(a, 'link') });
  });

  it('reports 126 "is a directory" for a slash path naming a directory', () => {
    const a = dir('a');
    expect(resolveCommand(a, '/usr/bin', '/')).toEqual({ ok: false, exitCode: 126, reason: 'is a directory' });
  });

  it('reports 126 for a slash path to a non-executable file', () => {
    const f = file(path.join(tmp, 'data.txt'), 0o644);
    const r = resolveCommand(f, '/usr/bin', '/');
    expect(r).toMatchObject({ ok: false, exitCode: 126 });
    expect(r.ok ? '' : r.reason).toMatch(/permission denied/);
  });

  it('reports 127 for an empty command name', () => {
    expect(resolveCommand('', '/usr/bin:/bin', '/')).toMatchObject({ ok: false, exitCode: 127 });
  });

  it('H1: a slash path under a file, too long a name, a loop of links: 127 in the shell\'s words, never a throw', () => {
    const notDir = file(path.join(tmp, 'plain'), 0o755);
    expect(resolveCommand(path.join(notDir, 'x'), '/usr/bin', '/')).toEqual({ ok: false, exitCode: 127, reason: 'not a directory' });
    expect(resolveCommand(`/tmp/${'a'.repeat(300)}`, '/usr/bin', '/')).toEqual({ ok: false, exitCode: 127, reason: 'file name too long' });
    symlinkSync(path.join(tmp, 'loop-b'), path.join(tmp, 'loop-a'));
    symlinkSync(path.join(tmp, 'loop-a'), path.join(tmp, 'loop-b'));
    expect(resolveCommand(path.join(tmp, 'loop-a'), '/usr/bin', '/')).toEqual({
      ok: false,
      exitCode: 127,
      reason: 'too many levels of symbolic links',
    });
  });

  it('H1: a 300-character name on PATH is "command not found"', () => {
    expect(resolveCommand('a'.repeat(300), '/usr/bin:/bin', '/')).toEqual({ ok: false, exitCode: 127, reason: 'command not found' });
  });

  it('H1: a NUL in the name is refused as invalid, never looked up', () => {
    expect(resolveCommand('ls\0x', '/usr/bin:/bin', '/')).toEqual({ ok: false, exitCode: 127, reason: 'the name contains a NUL byte', invalid: true });
    expect(resolveCommand('/bin/ls\0x', '/usr/bin:/bin', '/')).toMatchObject({ ok: false, invalid: true });
  });

  it('H1: PATH entries that are files, hold a NUL or are too long are skipped; the search goes on', () => {
    const bin = dir('bin');
    file(path.join(bin, 'app'), 0o755);
    const hosts = file(path.join(tmp, 'hosts'), 0o644);
    const onPath = [hosts, `${tmp}/nul\0dir`, `/${'d'.repeat(5000)}`, path.join(hosts, 'deeper'), bin].join(':');
    expect(resolveCommand('app', onPath, '/')).toEqual({ ok: true, path: path.join(bin, 'app') });
    expect(resolveCommand('other', onPath, '/')).toEqual({ ok: false, exitCode: 127, reason: 'command not found' });
  });
});

describe('exitStatus', () => {
  it.each([
    [0, null, 0],
    [1, null, 1],
    [42, null, 42],
    [255, null, 255],
    [3, 0, 3],
  ] as const)('passes exit code %d through (signal %j)', (code, signal, status) => {
    expect(exitStatus(code, signal)).toBe(status);
  });

  it.each([
    ['SIGHUP', 129],
    ['SIGINT', 130],
    ['SIGQUIT', 131],
    ['SIGKILL', 137],
    ['SIGSEGV', 139],
    ['SIGPIPE', 141],
    ['SIGTERM', 143],
  ] as const)('turns death by %s into %d', (signal, status) => {
    expect(exitStatus(null, signal)).toBe(status);
  });

  it('accepts a signal number as well as a name', () => {
    expect(exitStatus(null, 9)).toBe(137);
    expect(exitStatus(null, 15)).toBe(143);
  });

  it('gives the signal precedence over a code', () => {
    expect(exitStatus(0, 'SIGTERM')).toBe(143);
  });

  it('treats no code and no signal as 0', () => {
    expect(exitStatus(null, null)).toBe(0);
  });
});

describe('signalName / signalNumber', () => {
  it.each([
    [1, 'SIGHUP'],
    [2, 'SIGINT'],
    [6, 'SIGABRT'],
    [9, 'SIGKILL'],
    [10, 'SIGUSR1'],
    [12, 'SIGUSR2'],
    [15, 'SIGTERM'],
    [28, 'SIGWINCH'],
  ] as const)('names signal %d %s and back', (num, name) => {
    expect(signalName(num)).toBe(name);
    expect(signalNumber(name)).toBe(num);
  });

  it('has no name for an unknown number', () => {
    expect(signalName(0)).toBeUndefined();
    expect(signalName(999)).toBeUndefined();
  });
});

describe('forwarded signals', () => {
  it('include those a user or orchestrator sends', () => {
    for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH'] as const) {
      expect(FORWARDED_SIGNALS).toContain(s);
    }
  });
  it('exclude uncatchable, fault and job-control-of-our-own signals', () => {
    for (const s of ['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL', 'SIGTTIN', 'SIGTTOU'] as const) {
      expect(FORWARDED_SIGNALS).not.toContain(s);
    }
  });
  it('stop on TERM and INT only', () => {
    expect([...STOP_SIGNALS].sort()).toEqual(['SIGINT', 'SIGTERM']);
  });
});

describe('childEnv', () => {
  it('drops the invite token and keeps everything else', () => {
    const env = childEnv({ A: '1', HOME: '/root', WAYPOINT_CEB_INVITE_TOKEN: 'secret', WAYPOINT_SERVER_ADDR: 'h:1' }, 5000);
    expect(env).toEqual({ A: '1', HOME: '/root', WAYPOINT_SERVER_ADDR: 'h:1', PORT: '5000' });
    expect(SECRET_VARS).toContain('WAYPOINT_CEB_INVITE_TOKEN');
  });

  it('sets PORT from the settings when unset or empty, keeps it when set', () => {
    expect(childEnv({}, 5000).PORT).toBe('5000');
    expect(childEnv({}, 8123).PORT).toBe('8123');
    expect(childEnv({ PORT: '' }, 5000).PORT).toBe('5000');
    expect(childEnv({ PORT: '3000' }, 5000).PORT).toBe('3000');
  });

  it('leaves out variables whose value is undefined', () => {
    const env = childEnv({ A: undefined, B: '' }, 5000);
    expect('A' in env).toBe(false);
    expect(env.B).toBe('');
  });

  it("hands the app's NODE_OPTIONS back from where the launcher set it aside", () => {
    const env = childEnv({ [SAVED_NODE_OPTIONS]: '--require ./tracing.js' }, 5000);
    expect(env.NODE_OPTIONS).toBe('--require ./tracing.js');
    expect(SAVED_NODE_OPTIONS in env).toBe(false);
  });

  it('keeps a set-but-empty NODE_OPTIONS set and empty', () => {
    const env = childEnv({ [SAVED_NODE_OPTIONS]: '' }, 5000);
    expect(env.NODE_OPTIONS).toBe('');
  });

  it('gives the app no NODE_OPTIONS when none was set', () => {
    expect('NODE_OPTIONS' in childEnv({ A: '1' }, 5000)).toBe(false);
  });

  it('does not modify our own environment', () => {
    const ours = { WAYPOINT_CEB_INVITE_TOKEN: 'secret', [SAVED_NODE_OPTIONS]: '-r x' };
    childEnv(ours, 5000);
    expect(ours).toEqual({ WAYPOINT_CEB_INVITE_TOKEN: 'secret', [SAVED_NODE_OPTIONS]: '-r x' });
  });
});
