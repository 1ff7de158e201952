// `config set` / `config unset` arguments: KEY=VALUE, --file PATH=@LOCAL or PATH=TEXT, usage
// errors naming the argument.
import { describe, expect, it } from 'vitest';
import { parseAssignment, parseFileAssignment, parseSetArgs, parseUnsetNames } from '../../../src/ctl/config-args.js';
import { UsageError } from '../../../src/ctl/errors.js';

const noRead = () => {
  throw new Error('no local file expected');
};

describe('parseAssignment', () => {
  it('splits at the first "=", keeping the rest verbatim', () => {
    expect(parseAssignment('URL=a=b=c', 'static')).toEqual({ name: 'URL', kind: 'static', value: Buffer.from('a=b=c') });
    expect(parseAssignment('S= spaced ', 'internal')).toEqual({ name: 'S', kind: 'internal', value: Buffer.from(' spaced ') });
  });
  it('refuses a missing "=", a bad name and an empty value as usage errors', () => {
    for (const text of ['NOEQ', '=x', '1A=x', 'A=']) expect(() => parseAssignment(text, 'static'), text).toThrow(UsageError);
  });
});

describe('parseFileAssignment', () => {
  it('reads @LOCAL, takes other text literally, and @@ as a literal @', () => {
    const read = (p: string) => Buffer.from(`content of ${p}`);
    expect(parseFileAssignment('/etc/a=@local.txt', read)).toEqual({ name: '/etc/a', kind: 'file', value: Buffer.from('content of local.txt') });
    expect(parseFileAssignment('a.txt=hello', read).value.toString()).toBe('hello');
    expect(parseFileAssignment('a.txt=@@x', read).value.toString()).toBe('@x');
  });
  it('refuses a bare "@", a directory path, and non-UTF-8 content', () => {
    expect(() => parseFileAssignment('a=@', noRead)).toThrow(/local file name/);
    expect(() => parseFileAssignment('a/=x', noRead)).toThrow(/directory/);
    expect(() => parseFileAssignment('a=@bin', () => Buffer.from([0xff]))).toThrow(/UTF-8/);
  });
});

describe('parseSetArgs', () => {
  it('combines env vars and files into one change, internal when asked', () => {
    const vars = parseSetArgs({ assignments: ['A=1'], files: ['f=x'], internal: true }, noRead);
    expect(vars.map((x) => [x.name, x.kind])).toEqual([
      ['A', 'internal'],
      ['f', 'file'],
    ]);
  });
  it('needs something to set and refuses a name given twice', () => {
    expect(() => parseSetArgs({ assignments: [], files: [], internal: false }, noRead)).toThrow(UsageError);
    expect(() => parseSetArgs({ assignments: ['A=1'], files: ['A=2'], internal: false }, noRead)).toThrow(/given twice/);
  });
});

describe('parseUnsetNames', () => {
  it('takes env names and paths, refusing none, duplicates and impossible paths', () => {
    expect(parseUnsetNames(['A', '/etc/x'])).toEqual(['A', '/etc/x']);
    expect(() => parseUnsetNames([])).toThrow(UsageError);
    expect(() => parseUnsetNames(['A', 'A'])).toThrow(/twice/);
    expect(() => parseUnsetNames(['dir/'])).toThrow(/directory/);
  });
});
