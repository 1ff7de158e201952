// Bundles each program into one CommonJS file in dist/ (the form Node's single executable
// applications need). node-pty's addon lookup is pointed at our loader, which knows where the
// addon is in the npm package and how to unpack it from the single binary.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

/** @type {import('esbuild').Plugin} */
const nodePtyNativeLoader = {
  name: 'node-pty-native-loader',
  setup(b) {
    b.onLoad({ filter: /node-pty[\\/]lib[\\/]utils\.js$/ }, () => ({
      contents: `
        const { loadNative } = require(${JSON.stringify(path.join(root, 'src/native/load.ts'))});
        exports.assign = (target, ...sources) => Object.assign(target, ...sources);
        exports.loadNativeModule = (name) => ({ dir: '', module: loadNative(name) });
      `,
      loader: 'js',
    }));
  },
};

/**
 * Parts of the entrypoint built as files of their own (dist/<name>.cjs), loaded only when used:
 * the connection pulls in gRPC, whose parsing alone would slow every start of disabled mode;
 * commander (120 KB) is needed only for options, help and usage errors. Each chunk's import,
 * from the one file that loads it, becomes src/chunks.ts's loadChunk.
 */
export const chunks = {
  connection: { entry: 'src/connection/index.ts', importer: 'src/entrypoint.ts', specifier: './connection/index.js' },
  commander: { entry: 'src/cli/commander.ts', importer: 'src/cli/entrypoint.ts', specifier: './commander.js' },
};

/** @type {import('esbuild').Plugin} */
const lazyChunks = {
  name: 'lazy-chunks',
  setup(b) {
    b.onResolve({ filter: /^\.\/(connection\/index|commander)\.js$/ }, (args) => {
      const name = Object.keys(chunks).find(
        (n) => chunks[n].specifier === args.path && path.join(root, chunks[n].importer) === args.importer,
      );
      return name ? { path: name, namespace: 'lazy-chunk' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'lazy-chunk' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(path.join(root, 'src/chunks.ts'))}).loadChunk(${JSON.stringify(args.path)});`,
      loader: 'js',
      resolveDir: root,
    }));
  },
};

export const programs = { entrypoint: 'src/cli/entrypoint.ts', ctl: 'src/cli/ctl.ts' };

/**
 * Left to require() at run time: better-sqlite3 is a native addon a bundle cannot hold; it loads
 * from node_modules, and only when `waypoint-ctl` runs a server (server run, dev).
 */
const external = { ctl: ['better-sqlite3'] };

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  legalComments: 'none',
  define: { __VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};

await Promise.all([
  ...Object.entries(programs).map(([name, entry]) =>
    build({
      ...common,
      entryPoints: [path.join(root, entry)],
      outfile: path.join(root, 'dist', `${name}.cjs`),
      plugins: name === 'entrypoint' ? [nodePtyNativeLoader, lazyChunks] : [nodePtyNativeLoader],
      external: external[name] ?? [],
    }),
  ),
  ...Object.entries(chunks).map(([name, { entry }]) =>
    build({ ...common, entryPoints: [path.join(root, entry)], outfile: path.join(root, 'dist', `${name}.cjs`) }),
  ),
]);

// The web console's front end (dist/console/), built in a module of its own.
const { buildConsole } = await import('./build-console.mjs');
await buildConsole();
