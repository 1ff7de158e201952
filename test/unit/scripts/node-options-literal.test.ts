// The NODE_OPTIONS guard of scripts/build-binary.mjs finds the C string Node passes to getenv, in
// the layouts the Node builds we embed have: a standalone literal (Node 20, 24), or only the tail
// of a longer literal the linker merged it into (Node 26); never V8's serialized heap strings.
import { describe, expect, it } from 'vitest';

const build = (await import('../../../scripts/build-binary.mjs' as string)) as {
  findNodeOptionsLiteral(bin: Buffer): { literals: number[]; heapStrings: number[]; tails: number[] };
};

/** A fake binary from pieces; returns it and the offset at which each piece starts. */
function binary(...pieces: Array<string | Buffer>): { bin: Buffer; at: number[] } {
  const at: number[] = [];
  let offset = 0;
  const buffers = pieces.map((piece) => {
    const b = typeof piece === 'string' ? Buffer.from(piece, 'latin1') : piece;
    at.push(offset);
    offset += b.length;
    return b;
  });
  return { bin: Buffer.concat(buffers), at };
}
const heapString = Buffer.from('\x0c\0\0\0NODE_OPTIONS\0\0\0\0', 'latin1');

describe('findNodeOptionsLiteral', () => {
  it('finds a standalone literal and tells heap strings apart (Node 20, 24)', () => {
    const { bin, at } = binary('\x7fELF\0not found\0', 'NODE_OPTIONS\0', 'is not allowed in NODE_OPTIONS\0', heapString);
    const found = build.findNodeOptionsLiteral(bin);
    expect(found.literals).toEqual([at[1]]);
    expect(found.heapStrings).toEqual([at[3] + 4]);
    expect(found.tails).toEqual([at[2] + 'is not allowed in '.length]);
  });

  it('finds only the tail of a longer literal when the linker merged it (Node 26)', () => {
    const { bin, at } = binary('\x7fELF\0', 'is not allowed in NODE_OPTIONS\0', heapString, 'process.env.NODE_OPTIONS;');
    const found = build.findNodeOptionsLiteral(bin);
    expect(found.literals).toEqual([]);
    expect(found.heapStrings).toEqual([at[2] + 4]);
    // JavaScript source text is not NUL-terminated after the name: not a candidate.
    expect(found.tails).toEqual([at[1] + 'is not allowed in '.length]);
  });
});
