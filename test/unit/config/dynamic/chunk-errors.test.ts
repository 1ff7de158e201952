// A source module is a bundle of its own (a lazy chunk), with its own copy of
// SourceSettingsError: the resolver in the main bundle can tell that error by its name, which
// this checks on a source bundled the way the build bundles a chunk.
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, expect, it } from 'vitest';
import { SourceSettingsError, type SourceFactory } from '../../../../src/config/dynamic/source.js';
import { ROOT } from '../../../helpers/run.js';
import { testContext } from '../../../helpers/source-context.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wpe-chunk-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("a bundled source's settings error is known by its name, as instanceof cannot see across bundles", async () => {
  const outfile = path.join(dir, 'source-vault.cjs');
  await build({ entryPoints: [path.join(ROOT, 'src/config/dynamic/sources/vault.ts')], bundle: true, platform: 'node', format: 'cjs', outfile, logLevel: 'warning' });
  const { create } = createRequire(import.meta.url)(outfile) as { create: SourceFactory };
  let thrown: unknown;
  try {
    create({ addr: 'http://127.0.0.1:1' }, testContext());
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect(thrown).not.toBeInstanceOf(SourceSettingsError);
  expect((thrown as Error).name).toBe(new SourceSettingsError('x').name);
  expect((thrown as Error).message).toContain('vault needs a token');
});
