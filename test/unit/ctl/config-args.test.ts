// `config set` / `config unset` arguments: KEY=VALUE, --file PATH=@LOCAL or PATH=TEXT, usage
// errors naming the argument.
import { describe, expect, it } from 'vitest';
import { parseAssignment, parseFileAssignment, parseSetArgs, parseUnsetNames, parseDynamicArgs, parseSettings } from '../../../src/ctl/config-args.js';
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

describe('config set --dynamic and config source set arguments', () => {
  it('NAME then KEY=VALUE settings; --internal and --path set the kind', () => {
    expect(parseDynamicArgs({ type: 'vault', args: ['DB', 'path=secret/data/db', 'key=/data/password'], internal: false, path: false })).toEqual({
      name: 'DB',
      kind: 'static',
      from: 'vault',
      config: { path: 'secret/data/db', key: '/data/password' },
    });
    expect(parseDynamicArgs({ type: 'null', args: ['PASS', 'static_value=a=b'], internal: true, path: false })).toMatchObject({ kind: 'internal', config: { static_value: 'a=b' } });
    expect(parseDynamicArgs({ type: 'null', args: ['conf/tls.pem', 'static_value=x'], internal: false, path: true })).toMatchObject({ kind: 'file', name: 'conf/tls.pem' });
  });

  it.each([
    [{ type: 'etcd', args: ['A', 'k=v'] }, 'unknown config source type "etcd": one of null, vault, kubernetes, consul, aws-ssm'],
    [{ type: 'vault', args: [] }, 'config set --dynamic TYPE needs the var NAME, then its KEY=VALUE settings'],
    [{ type: 'vault', args: ['A=1'] }, 'config set --dynamic TYPE needs the var NAME, then its KEY=VALUE settings'],
    [{ type: 'vault', args: ['A'] }, 'dynamic var A needs its KEY=VALUE settings'],
    [{ type: 'vault', args: ['A', 'novalue'] }, 'expected KEY=VALUE, got "novalue"'],
    [{ type: 'vault', args: ['A', 'k=1', 'k=2'] }, '"k" is given twice'],
    [{ type: 'vault', args: ['1A', 'k=1'] }, 'invalid env var name "1A"'],
    [{ type: 'vault', args: ['A', 'k=1'], internal: true, path: true }, '--internal and --path exclude each other'],
  ])('%j: %s', (input, message) => {
    expect(() => parseDynamicArgs({ internal: false, path: false, ...input })).toThrow(message);
  });

  it('source settings: KEY=VALUE, the value verbatim', () => {
    expect(parseSettings(['addr=https://v:8200', 'token=a=b'])).toEqual({ addr: 'https://v:8200', token: 'a=b' });
    expect(() => parseSettings(['=x'])).toThrow('expected KEY=VALUE, got "=x"');
  });
});
