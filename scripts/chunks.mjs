// The parts of the entrypoint built as files of their own (dist/<name>.cjs), loaded only when
// used (src/chunks.ts), each a SEA asset of the binary with its code cache. Shared by
// scripts/build.mjs (which bundles them and turns each one's import into a loadChunk) and
// scripts/build-binary.mjs (which puts them in the binary).
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** A source of dynamic config (src/config/dynamic/registry.ts imports it), a chunk of its own. */
const source = (type) => ({
  entry: `src/config/dynamic/sources/${type}.ts`,
  importer: 'src/config/dynamic/registry.ts',
  specifier: `./sources/${type}.js`,
});

/**
 * The connection pulls in gRPC, whose parsing alone would slow every start of disabled mode;
 * commander (120 KB) is needed only for options, help and usage errors; dynamic config only by a
 * config with a dynamic var, and each of its sources only when a config names that type.
 */
const ALL = {
  connection: { entry: 'src/connection/index.ts', importer: 'src/entrypoint.ts', specifier: './connection/index.js' },
  commander: { entry: 'src/cli/commander.ts', importer: 'src/cli/entrypoint.ts', specifier: './commander.js' },
  dynamic: { entry: 'src/config/dynamic/index.ts', importer: 'src/config/applier.ts', specifier: './dynamic/index.js' },
  'source-vault': source('vault'),
  'source-kubernetes': source('kubernetes'),
  'source-consul': source('consul'),
  'source-aws-ssm': source('aws-ssm'),
};

/**
 * Every chunk whose source file is in this tree: a source type whose module is not (a build of
 * a tree without it) is no chunk, and its import fails at run time as that source's failure
 * (src/config/dynamic/registry.ts), never the build.
 */
export const chunks = Object.fromEntries(Object.entries(ALL).filter(([, c]) => existsSync(path.join(root, c.entry))));

/** Every chunk an import may name, built or not (a missing one is loaded and fails then). */
export const chunkImports = ALL;
