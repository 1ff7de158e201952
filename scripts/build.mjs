// Bundles each program into one CommonJS file in dist/ (the form Node's single executable
// applications need). node-pty's addon lookup is pointed at our loader, which knows where the
// addon is in the npm package and how to unpack it from the single binary.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chunkImports, chunks } from './chunks.mjs';

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

export { chunks };

/** @type {import('esbuild').Plugin} */
const lazyChunks = {
  name: 'lazy-chunks',
  setup(b) {
    b.onResolve({ filter: /^\.\/.*\.js$/ }, (args) => {
      const name = Object.keys(chunkImports).find(
        (n) => chunkImports[n].specifier === args.path && path.join(root, chunkImports[n].importer) === args.importer,
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
 * from node_modules, and only when `waypoint-ctl` runs a server (server run, dev). pg-native is
 * pg's optional libpq binding, which we never use (pg only loads it when asked for pg.native).
 */
const external = { ctl: ['better-sqlite3', 'pg-native'] };

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
    // A chunk may load chunks of its own (the connection the dynamic config, that its sources).
    build({ ...common, entryPoints: [path.join(root, entry)], outfile: path.join(root, 'dist', `${name}.cjs`), plugins: [lazyChunks] }),
  ),
]);

// The web console's front end (dist/console/), built in a module of its own.
const { buildConsole } = await import('./build-console.mjs');
await buildConsole();
