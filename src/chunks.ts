// Lazily loaded parts of the bundle. The connection (gRPC, protobufjs, the descriptor: ~1 MB of
// JavaScript) is built as a file of its own, dist/connection.cjs, that disabled mode never
// reads: inside the main bundle its mere parsing cost ~10 ms of start-up, a third of our budget.
// scripts/build.mjs points the orchestrator's `import('./connection/index.js')` here. In the
// single binary the chunk is a SEA asset, compiled the way Node compiles a CommonJS file.
import path from 'node:path';

export type ChunkName = 'connection';

declare const __dirname: string; // the bundle is CommonJS

interface SeaModule {
  isSea(): boolean;
  getAsset(key: string, encoding: string): string;
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
  // `require` serves exactly those.
  const { compileFunction } = require('node:vm') as typeof import('node:vm');
  const wrapper = compileFunction(sea.getAsset(file, 'utf8'), ['exports', 'require', 'module', '__filename', '__dirname'], {
    filename: file,
  });
  const module = { exports: {} as unknown };
  wrapper(module.exports, require, module, file, path.dirname(process.execPath));
  return module.exports;
}
