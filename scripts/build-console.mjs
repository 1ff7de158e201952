// Builds the web console's front end (src/console-ui/) into dist/console/: index.html and
// assets/<name>-<hash>.{js,css} (hashed, so the server can let browsers keep them forever),
// each also as <file>.gz and <file>.br for the server to send as they are when the browser
// accepts them. The terminal (xterm.js) is a chunk of its own, loaded when first used. Prints
// the JavaScript's sizes, raw and gzipped: the first page must stay under 250 KB gzipped.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const src = path.join(root, 'src/console-ui');
export const consoleDir = path.join(root, 'dist/console');
export const FIRST_PAGE_GZIP_LIMIT = 250 * 1024;

const compress = (file) => {
  const data = readFileSync(file);
  writeFileSync(`${file}.gz`, gzipSync(data, { level: 9 }));
  writeFileSync(`${file}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
  return { raw: data.length, gzip: gzipSync(data, { level: 9 }).length };
};

/** The JS files a page loads with an output at once: it and what it imports statically. */
function staticClosure(outputs, file, seen = new Set()) {
  if (seen.has(file)) return seen;
  seen.add(file);
  for (const i of outputs[file].imports) if (i.kind === 'import-statement') staticClosure(outputs, path.join(root, i.path), seen);
  return seen;
}

export async function buildConsole({ quiet = false } = {}) {
  rmSync(consoleDir, { recursive: true, force: true });
  const assets = path.join(consoleDir, 'assets');
  mkdirSync(assets, { recursive: true });
  const result = await build({
    entryPoints: [path.join(src, 'main.tsx')],
    tsconfig: path.join(src, 'tsconfig.json'),
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['chrome109', 'firefox115', 'safari16'],
    minify: true,
    outdir: assets,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
    absWorkingDir: root,
  });
  const outputs = Object.fromEntries(Object.entries(result.metafile.outputs).map(([f, o]) => [path.join(root, f), o]));
  const entry = Object.keys(outputs).find((f) => outputs[f].entryPoint && f.endsWith('.js'));
  const css = outputs[entry].cssBundle && path.join(root, outputs[entry].cssBundle);
  const html = readFileSync(path.join(src, 'index.html'), 'utf8')
    .replace('__JS__', path.basename(entry))
    .replace('__CSS__', path.basename(css));
  writeFileSync(path.join(consoleDir, 'index.html'), html);

  const sizes = {};
  for (const f of [...Object.keys(outputs), path.join(consoleDir, 'index.html')]) sizes[f] = compress(f);
  const first = staticClosure(outputs, entry);
  const lazy = new Set();
  for (const f of first) for (const i of outputs[f].imports) if (i.kind === 'dynamic-import') staticClosure(outputs, path.join(root, i.path), lazy);
  for (const f of first) lazy.delete(f);
  const sum = (files) => [...files].reduce((a, f) => ({ raw: a.raw + sizes[f].raw, gzip: a.gzip + sizes[f].gzip }), { raw: 0, gzip: 0 });
  const report = { firstPage: sum(first), terminal: sum(lazy), css: css ? sizes[css] : { raw: 0, gzip: 0 } };
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  if (!quiet) {
    console.log(
      `console: first page JS ${kb(report.firstPage.raw)} (${kb(report.firstPage.gzip)} gzipped), ` +
        `terminal chunk ${kb(report.terminal.raw)} (${kb(report.terminal.gzip)} gzipped), CSS ${kb(report.css.raw)} (${kb(report.css.gzip)} gzipped)`,
    );
  }
  if (report.firstPage.gzip > FIRST_PAGE_GZIP_LIMIT) {
    throw new Error(`the console's first page has ${kb(report.firstPage.gzip)} of JavaScript gzipped, over the ${kb(FIRST_PAGE_GZIP_LIMIT)} budget: lazy-load more`);
  }
  return report;
}
