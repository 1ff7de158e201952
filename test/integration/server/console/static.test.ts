// The console's front end as the server serves it, from a fixture dist/console: the page on every
// route that is not the API or an asset (no-cache, ETag), hashed assets cached for a year, brotli
// or gzip per Accept-Encoding, the security headers on all of it, and a 503 that says to build
// when there is no index.html (the API still answering).
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { api, FIXTURE_ASSET, FIXTURE_INDEX, removeConsoleFixtures, startConsoleServer } from '../../../helpers/console.js';
import { stopServers } from '../../../helpers/server.js';

afterEach(async () => {
  await stopServers();
  removeConsoleFixtures();
});

const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

function securityHeaders(h: Record<string, unknown>) {
  return {
    csp: h['content-security-policy'],
    nosniff: h['x-content-type-options'],
    referrer: h['referrer-policy'],
    frame: h['x-frame-options'],
  };
}
const SECURE = { csp: CSP, nosniff: 'nosniff', referrer: 'no-referrer', frame: 'DENY' };

describe('console static files', () => {
  it('serves index.html for the page routes, no-cache with an ETag, compressed per Accept-Encoding', async () => {
    const server = await startConsoleServer();
    for (const route of ['/', '/instances', '/logs', '/terminal', '/config/web']) {
      const r = await api(server, 'GET', route);
      expect([route, r.status, r.text]).toEqual([route, 200, FIXTURE_INDEX]);
      expect(r.headers['cache-control']).toBe('no-cache');
      expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(securityHeaders(r.headers)).toEqual(SECURE);
    }
    const first = await api(server, 'GET', '/', { headers: { 'Accept-Encoding': 'gzip, deflate, br' } });
    expect(first.headers['content-encoding']).toBe('br');
    expect(brotliDecompressSync(first.body).toString()).toBe(FIXTURE_INDEX);
    const again = await api(server, 'GET', '/', { headers: { 'If-None-Match': first.headers.etag as string } });
    expect([again.status, again.body.length]).toEqual([304, 0]);
  });

  it('serves hashed assets for a year, immutable, gzip or brotli or plain as asked; 404 for what is not there', async () => {
    const server = await startConsoleServer();
    const path_ = '/assets/app-0123abcd.js';
    const gz = await api(server, 'GET', path_, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gz.status).toBe(200);
    expect(gz.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(gz.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.vary).toBe('Accept-Encoding');
    expect(gunzipSync(gz.body).toString()).toBe(FIXTURE_ASSET);
    expect(gz.body.length).toBeLessThan(FIXTURE_ASSET.length / 10);
    expect(securityHeaders(gz.headers)).toEqual(SECURE);
    const br = await api(server, 'GET', path_, { headers: { 'Accept-Encoding': 'br;q=1, gzip;q=0.5' } });
    expect(brotliDecompressSync(br.body).toString()).toBe(FIXTURE_ASSET);
    const plain = await api(server, 'GET', path_, { headers: { 'Accept-Encoding': 'identity' } });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.text).toBe(FIXTURE_ASSET);
    const noBr = await api(server, 'GET', path_, { headers: { 'Accept-Encoding': 'br;q=0, gzip' } });
    expect(noBr.headers['content-encoding']).toBe('gzip');
    for (const missing of ['/assets/nope.js', '/assets/..%2f..%2fpackage.json', '/assets/.hidden', '/assets/']) {
      const r = await api(server, 'GET', missing);
      expect([missing, r.status]).toEqual([missing, 404]);
    }
    expect((await api(server, 'POST', '/')).status).toBe(405);
  });

  it('answers 503 saying to build when the front end is missing, while the API works', async () => {
    const server = await startConsoleServer({ consoleDir: path.join(os.tmpdir(), 'wp-console-not-built-here') });
    const r = await api(server, 'GET', '/instances');
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/^the console's front end is not built .*run npm run build.*\n$/);
    expect(r.text.trim().split('\n')).toHaveLength(1);
    expect(securityHeaders(r.headers)).toEqual(SECURE);
    expect((await api(server, 'GET', '/api/v1/apps', { token: server.operatorToken })).status).toBe(200);
  });
});
