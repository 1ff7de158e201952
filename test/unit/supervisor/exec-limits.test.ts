// What execve takes (H2): each NAME=value string under MAX_ARG_STRLEN, and everything, pointers
// included, within ARG_MAX as Linux derives it from the stack limit; checked before a running app
// is stopped for a new env.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { argMax, execSizeProblem, FALLBACK_ARG_MAX, MAX_ARG_STRLEN } from '../../../src/supervisor/exec-limits.js';

const limits = (stack: string) => () => `Limit                     Soft Limit           Hard Limit           Units\nMax stack size            ${stack}              unlimited            bytes\n`;

describe('argMax', () => {
  it('H2: a quarter of the stack limit, at least 128 KiB, at most 6 MiB, as sysconf(_SC_ARG_MAX)', () => {
    expect(argMax(limits('8388608'))).toBe(2 * 1024 * 1024);
    expect(argMax(limits('65536'))).toBe(128 * 1024);
    expect(argMax(limits('unlimited'))).toBe(6 * 1024 * 1024);
  });

  it('H2: a fixed safe figure when the limits cannot be read', () => {
    expect(argMax(() => 'nothing useful')).toBe(FALLBACK_ARG_MAX);
    expect(
      argMax(() => {
        throw new Error('ENOENT');
      }),
    ).toBe(FALLBACK_ARG_MAX);
  });

  it('matches this machine (what getconf ARG_MAX reports, Linux)', () => {
    const stack = /^Max stack size\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1];
    const expected = stack === 'unlimited' ? 6 * 1024 * 1024 : Math.max(128 * 1024, Math.min(Number(stack) / 4, 6 * 1024 * 1024));
    expect(argMax()).toBe(expected);
  });
});

describe('execSizeProblem', () => {
  const image = (env: Record<string, string>) => ({ file: '/bin/sh', argv: ['sh', '-c', 'app'], env });

  it('H2: a NAME=value string of 128 KiB or more is refused, naming the var but never its value', () => {
    const fits = 'v'.repeat(MAX_ARG_STRLEN - 1 - 'BIG='.length);
    expect(execSizeProblem(image({ BIG: fits }), 10 * 1024 * 1024)).toBeUndefined();
    const problem = execSizeProblem(image({ BIG: `${fits}v` }), 10 * 1024 * 1024);
    expect(problem).toBe(`env var BIG is ${MAX_ARG_STRLEN} bytes as NAME=value; exec takes at most ${MAX_ARG_STRLEN - 1} per var (MAX_ARG_STRLEN)`);
    // UTF-8 bytes count, not characters.
    expect(execSizeProblem(image({ BIG: 'é'.repeat(70_000) }), 10 * 1024 * 1024)).toMatch(/env var BIG is 140004 bytes/);
  });

  it('H2: the total, one pointer per string included, against ARG_MAX', () => {
    const env: Record<string, string> = {};
    for (let i = 0; i < 20; i++) env[`V${i}`] = 'x'.repeat(100_000);
    expect(execSizeProblem(image(env), 4 * 1024 * 1024)).toBeUndefined();
    expect(execSizeProblem(image(env), 2 * 1024 * 1024)).toBeUndefined();
    env.V20 = 'x'.repeat(100_000);
    env.V21 = 'x'.repeat(100_000);
    expect(execSizeProblem(image(env), 2 * 1024 * 1024)).toMatch(/^the env and command line take 2200\d{3} bytes; exec takes at most 2097152 here/);
    // Exactly at the limit fits; one pointer more does not.
    const small = { A: 'a' };
    const exact = '/bin/sh'.length + 1 + 3 + 3 + 4 + 'A=a'.length + 1 + 4 * 8;
    expect(execSizeProblem(image(small), exact)).toBeUndefined();
    expect(execSizeProblem(image(small), exact - 1)).toMatch(/take \d+ bytes/);
  });

  it('H2: an argument over MAX_ARG_STRLEN is refused too', () => {
    expect(execSizeProblem({ file: '/bin/echo', argv: ['echo', 'x'.repeat(MAX_ARG_STRLEN)], env: {} }, 10 * 1024 * 1024)).toMatch(/an argument is/);
  });
});
