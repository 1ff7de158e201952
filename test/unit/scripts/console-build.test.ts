// What `npm run build` leaves in dist/console/ for the server to serve: an index.html with no
// inline script or style (the CSP) naming hashed assets that exist, each with a .gz and a .br
// that decompress to it exactly, and nothing loaded from elsewhere.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../helpers/run.js';

const DIR = path.join(ROOT, 'dist/console');

describe('the console build (dist/console)', () => {
  it('index.html loads one hashed module and one hashed stylesheet, nothing inline, nothing from elsewhere', () => {
    expect(existsSync(path.join(DIR, 'index.html')), 'run npm run build').toBe(true);
    const html = readFileSync(path.join(DIR, 'index.html'), 'utf8');
    const scripts = [...html.matchAll(/<script\b([^>]*)>([^<]*)<\/script>/g)];
    expect(scripts).toHaveLength(1);
    expect(scripts[0][1]).toMatch(/type="module" src="\/assets\/main-[A-Z0-9]+\.js"/);
    expect(scripts[0][2]).toBe('');
    expect(html).not.toMatch(/<style|style=/i);
    expect(html).toMatch(/<link rel="stylesheet" href="\/assets\/main-[A-Z0-9]+\.css" \/>/);
    for (const [, ref] of html.matchAll(/(?:src|href)="([^"]+)"/g)) {
      expect(ref.startsWith('/assets/'), ref).toBe(true);
      expect(existsSync(path.join(DIR, ref)), ref).toBe(true);
    }
  });

  it('every asset has a .gz and a .br beside it with the same bytes, and no asset names another host', () => {
    const assets = readdirSync(path.join(DIR, 'assets')).filter((f) => !/\.(gz|br)$/.test(f));
    expect(assets.some((f) => /^xterm-view-[A-Z0-9]+\.js$/.test(f))).toBe(true);
    for (const f of [...assets.map((a) => `assets/${a}`), 'index.html']) {
      const raw = readFileSync(path.join(DIR, f));
      expect(gunzipSync(readFileSync(path.join(DIR, `${f}.gz`))).equals(raw), `${f}.gz`).toBe(true);
      expect(brotliDecompressSync(readFileSync(path.join(DIR, `${f}.br`))).equals(raw), `${f}.br`).toBe(true);
      // No CDN, no web font: nothing loaded from a URL (src=, href=, url(...)) of another host.
      const loads = [...raw.toString('latin1').matchAll(/(?:src|href|url)\(?\s*=?\s*["']?https?:\/\/[^"')\s]+/g)].map((m) => m[0]);
      expect(loads, f).toEqual([]);
    }
  });
});
