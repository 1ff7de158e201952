// Lazily loaded parts of the bundle (scripts/chunks.mjs lists them). The connection (gRPC, protobufjs, the descriptor: ~1 MB of
// JavaScript) is built as a file of its own, dist/connection.cjs, that disabled mode never
// reads: inside the main bundle its mere parsing cost ~10 ms of start-up, a third of our budget.
// So is commander (dist/commander.cjs), which only options and --help need. scripts/build.mjs
// points the orchestrator's `import('./connection/index.js')` and the CLI's
// `import('./commander.js')` here. In the
// single binary the chunk is a SEA asset, compiled the way Node compiles a CommonJS file, with
// V8's code cache for it (another asset, made at build time): ~25 ms less connected start-up.
import path from 'node:path';

/** A chunk of scripts/chunks.mjs: connection, commander, dynamic, source-<type>. */
export type ChunkName = string;

declare const __dirname: string; // the bundle is CommonJS

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string, encoding?: string): string;
}

function seaModule(): SeaModule | undefined {
  try {
    const sea = require('node:sea') as SeaModule;
    return sea.isSea() ? sea : undefined;
  } catch {
    return undefined;
  }
}

export function loadChunk(name: ChunkName): unknown {
  const file = `${name}.cjs`;
  const sea = seaModule();
  if (!sea) return require(path.join(__dirname, file));
  // Only built-in modules are required by a chunk (it is a bundle), and the binary's own
  // `require` serves exactly those. V8's code cache for it, made at build time, spares
  // compiling it (when this V8 rejects the cache, it compiles as if there were none).
  const { Script } = require('node:vm') as typeof import('node:vm');
  const script = new Script(chunkSource(sea.getAsset(file, 'utf8')), { filename: file, cachedData: cacheOf(sea, file) });
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  const module = { exports: {} as unknown };
  wrapper(module.exports, require, module, file, path.dirname(process.execPath));
  return module.exports;
}

/**
 * A chunk as a function of CommonJS's five arguments: the very text scripts/build-binary.mjs
 * makes the code cache for (test/unit/chunks.test.ts keeps the two alike).
 */
export function chunkSource(code: string): string {
  return `(function (exports, require, module, __filename, __dirname) {${code}\n})`;
}

function cacheOf(sea: SeaModule, file: string): Buffer | undefined {
  try {
    return Buffer.from(sea.getAsset(`${file}.cache`) as unknown as ArrayBuffer);
  } catch {
    return undefined; // a binary built without one
  }
}
