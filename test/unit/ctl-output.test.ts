// What the ctl prints of command lines: words a shell would take as they are.
import { describe, expect, it } from 'vitest';
import { commandLine, shellWord } from '../../src/ctl/output.js';

describe('commandLine', () => {
  it('leaves plain words alone and single-quotes the others, quotes included', () => {
    expect(shellWord('node')).toBe('node');
    expect(shellWord('a/b.c:d=e,f@g%h+i-j')).toBe('a/b.c:d=e,f@g%h+i-j');
    expect(shellWord('')).toBe("''");
    expect(shellWord('two words')).toBe("'two words'");
    expect(shellWord("it's")).toBe("'it'\\''s'");
    expect(commandLine(['sh', '-c', 'echo $HOME; ls'])).toBe("sh -c 'echo $HOME; ls'");
    expect(commandLine([])).toBe('');
  });
});
