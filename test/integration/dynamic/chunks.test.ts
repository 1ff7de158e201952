// Each source is built as a chunk of its own (a bundle loaded lazily, in the single binary with
// a `require` that serves only Node's built-in modules). This bundles each source as the build
// does and loads it that way: it must need nothing but built-ins, and its settings error must be
// known by its name, as instanceof cannot see across bundles.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire, isBuiltin } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { build } from 'esbuild';
import { afterAll, afterEach, expect, it } from 'vitest';
import { SourceSettingsError, type SourceFactory } from '../../../src/config/dynamic/source.js';
import { FakeSsm } from '../../helpers/fake-ssm.js';
import { ROOT } from '../../helpers/run.js';
import { readAll, req, testContext, value } from '../../helpers/source-context.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wpe-chunk-'));
const savedEnv = { ...process.env };
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
});

const nodeRequire = createRequire(import.meta.url);

/** Bundles a source and runs it as the binary runs a chunk: only built-ins can be required. */
async function chunk(type: string): Promise<SourceFactory> {
  const outfile = path.join(dir, `source-${type}.cjs`);
  await build({ entryPoints: [path.join(ROOT, `src/config/dynamic/sources/${type}.ts`)], bundle: true, platform: 'node', target: 'node20', format: 'cjs', outfile, logLevel: 'warning' });
  const builtinsOnly = (id: string) => {
    if (!isBuiltin(id)) throw new Error(`the ${type} chunk requires ${id}, which is not a built-in module`);
    return nodeRequire(id);
  };
  const code = (await import('node:fs')).readFileSync(outfile, 'utf8');
  const wrapper = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${code}\n})`, { filename: outfile }).runInThisContext();
  const module = { exports: {} as { create: SourceFactory } };
  wrapper(module.exports, builtinsOnly, module, outfile, dir);
  return module.exports.create;
}

it.each(['vault', 'kubernetes', 'consul'])('the %s chunk needs only built-ins and names its settings error', async (type) => {
  const create = await chunk(type);
  let thrown: unknown;
  try {
    create({ addr: 'unix:///x', address: 'unix:///x', token: 't' }, testContext({}));
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(Error);
  expect(thrown).not.toBeInstanceOf(SourceSettingsError);
  expect((thrown as Error).name).toBe(new SourceSettingsError('x').name);
});

it("the aws-ssm chunk, the AWS SDK inside, reads with the SDK's credential chain", async () => {
  const create = await chunk('aws-ssm');
  const fake = await new FakeSsm().start();
  try {
    fake.keys.set('AKIDCHUNK', { secret: 's' });
    fake.put('/app/port', '8080');
    writeFileSync(path.join(dir, 'credentials'), '[default]\naws_access_key_id = AKIDCHUNK\naws_secret_access_key = s\n');
    for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
    Object.assign(process.env, { AWS_SHARED_CREDENTIALS_FILE: path.join(dir, 'credentials'), AWS_CONFIG_FILE: path.join(dir, 'none'), AWS_EC2_METADATA_DISABLED: 'true' });
    const source = create({ endpoint: fake.url, region: 'us-east-1' }, testContext({}));
    expect((await readAll(source, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
    expect(fake.signed[0].accessKeyId).toBe('AKIDCHUNK');
    expect(fake.verified).toBe(1);
    source.close();
  } finally {
    await fake.close();
  }
});
