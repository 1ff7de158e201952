// The single binary's main (scripts/build-binary.mjs). It runs our bundle, a SEA asset, with V8's
// code cache for it that the build made after a whole start of disabled mode: the functions a
// start runs (main, the settings, the spawn) are in it, compiled, not only the bundle's top
// level (all that Node's own useCodeCache holds). Measured ~2 ms less start-up (issue 17).
// Node runs a SEA main as CommonJS, with __filename the binary; the bundle gets the same.
'use strict';
const sea = require('node:sea');
const { Script } = require('node:vm');
const path = require('node:path');

const FILE = 'entrypoint.cjs';

let cachedData;
try {
  cachedData = Buffer.from(sea.getRawAsset(`${FILE}.cache`));
} catch {
  cachedData = undefined; // a binary built without code caches (another architecture's blob)
}
// The asset is the bundle already wrapped as a function of CommonJS's five arguments, the very
// text the build made the cache for, and ASCII (build-binary checks): read as latin1, a plain
// copy, neither decoded as UTF-8 nor concatenated at every start.
const source = Buffer.from(sea.getRawAsset(FILE)).toString('latin1');
const script = new Script(source, { filename: FILE, cachedData });
// As Node says of a rejected main cache: it still runs, compiled as if there were none.
if (script.cachedDataRejected) process.stderr.write('Warning: Code cache data rejected.\n');
const bundle = { exports: {} };
script.runInThisContext()(bundle.exports, require, bundle, process.execPath, path.dirname(process.execPath));
