// What the ctl prints of command lines: words a shell would take as they are.
import { describe, expect, it, vi } from 'vitest';

const written = vi.hoisted(() => [] as string[]);
vi.mock('../../../src/log.js', async (importOriginal) => ({
  ...(await importOriginal<typeof import('../../../src/log.js')>()),
  writeLine: (_fd: number, text: string) => written.push(text),
}));
import { commandLine, printTable, shellWord, visible } from '../../../src/ctl/output.js';

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

  it("L6: an arg with a control character is written in $'...' with escapes, as bash reads it back", () => {
    expect(shellWord('a\x1b[2Jb')).toBe("$'a\\e[2Jb'");
    expect(shellWord("it's\r\\n\n")).toBe("$'it\\'s\\r\\\\n\\n'");
    expect(shellWord('\x07\x9b')).toBe("$'\\x07\\x9b'");
    expect(commandLine(['echo', '\x1b]0;title\x07'])).toBe("echo $'\\e]0;title\\x07'");
  });
});

describe('visible', () => {
  it('L6: escapes C0 but tab, DEL, C1 and bidi controls; leaves other text alone', () => {
    expect(visible('plain tab\there, Grüße 世界')).toBe('plain tab\there, Grüße 世界');
    expect(visible('\x00\x1b\r\n\x7f\x85\u202e\u2066')).toBe('\\x00\\e\\r\\n\\x7f\\x85\\u202e\\u2066');
  });

  it('L6: every table cell is printed escaped', () => {
    written.length = 0;
    printTable(['ID', 'APP'], [['i\x1b[2J', 'web\r']], 'none');
    expect(written.join('')).toBe('ID      APP\ni\\e[2J  web\\r\n');
  });
});
