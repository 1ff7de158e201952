// The connection chunk's code cache (made by scripts/build-binary.mjs) is for the exact text that
// src/chunks.ts compiles: were the two wrappers to differ, V8 would refuse the cache and the
// binary would quietly lose the start-up time it buys.
import { describe, expect, it } from 'vitest';
import { chunkSource } from '../../src/chunks.js';

describe('chunk code cache', () => {
  it('the build wraps a chunk exactly as the loader does', async () => {
    const build = (await import('../../scripts/build-binary.mjs' as string)) as { chunkSource(code: string): string };
    for (const code of ['', 'module.exports = 1;', '// last line without newline', 'x\n']) {
      expect(build.chunkSource(code)).toBe(chunkSource(code));
    }
    expect(chunkSource('x')).toMatch(/^\(function \(exports, require, module, __filename, __dirname\) \{x\n\}\)$/);
  });
});
