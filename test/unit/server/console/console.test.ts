// The console's pure parts: which Host is the console, the Origin check, cookie parsing, log
// cursors, route matching, the choice of encoding, the shape of a config change, sessions, and
// the README's table of routes against the routes served.
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cameOverTls } from '../../../../src/server/console/auth.js';
import { EXEC_PATH, ROUTES } from '../../../../src/server/console/console.js';
import { changeOf } from '../../../../src/server/console/config-routes.js';
import { parseCookies, sessionCookie } from '../../../../src/server/console/cookies.js';
import { isConsoleHost } from '../../../../src/server/console/host.js';
import { HttpError } from '../../../../src/server/console/http.js';
import { cursorOf, encodeEvents, parseCursor } from '../../../../src/server/console/logs.js';
import { sameOrigin } from '../../../../src/server/console/origin.js';
import { matchRoute, type Route } from '../../../../src/server/console/router.js';
import { MemorySessionRecords } from '../../../../src/server/console/session-records.js';
import { ConsoleSessions, csrfMatches } from '../../../../src/server/console/sessions.js';
import { chooseEncoding } from '../../../../src/server/console/static.js';
import type { LogEntry } from '../../../../src/server/logs/hub.js';
import { ROOT } from '../../../helpers/run.js';

describe('isConsoleHost', () => {
  it('takes localhost, IP literals and the exact URL domain, any port; not <app>.<domain>', () => {
    for (const host of ['localhost', 'localhost:9702', 'LOCALHOST.', '127.0.0.1:9702', '10.1.2.3', '[::1]:9702', '[::1]', 'apps.example.com', 'Apps.Example.com:80']) {
      expect([host, isConsoleHost(host, 'apps.example.com')]).toEqual([host, true]);
    }
    for (const host of [undefined, '', 'web.localhost', 'web.localhost:9702', 'web.apps.example.com', 'example.com', 'apps.example.com.evil', '127.0.0.1.nip.io', '[::1']) {
      expect([host, isConsoleHost(host, 'apps.example.com')]).toEqual([host, false]);
    }
    expect(isConsoleHost('localhost:9702', 'localhost')).toBe(true);
    expect(isConsoleHost('web.localhost:9702', 'localhost')).toBe(false);
  });
});

describe('sameOrigin', () => {
  it('is the request host with http or https, default ports equal', () => {
    expect(sameOrigin('http://localhost:9702', 'localhost:9702')).toBe(true);
    expect(sameOrigin('http://LOCALHOST:9702', 'localhost:9702')).toBe(true);
    expect(sameOrigin('http://localhost', 'localhost:80')).toBe(true);
    expect(sameOrigin('https://console.example', 'console.example:443')).toBe(true);
    expect(sameOrigin('http://[::1]:9702', '[::1]:9702')).toBe(true);
    // The scheme is not in Host: a TLS proxy in front gives https pages for the same host and port.
    expect(sameOrigin('https://localhost:9702', 'localhost:9702')).toBe(true);
  });
  it('refuses another host, port or scheme, null, and anything that is not an origin', () => {
    for (const [origin, host] of [
      ['http://evil.example', 'localhost:9702'],
      ['http://localhost:9703', 'localhost:9702'],
      ['null', 'localhost:9702'],
      ['file://', 'localhost'],
      ['http://localhost:9702/', 'localhost:9702'],
      ['http://user@localhost:9702', 'localhost:9702'],
      ['http://localhost:9702', undefined],
      ['http://localhost:9702', 'localhost:9702/x'],
      ['', 'localhost'],
    ] as const) {
      expect([origin, host, sameOrigin(origin, host)]).toEqual([origin, host, false]);
    }
  });
});

describe('cookies', () => {
  it('parses pairs, the first of a name winning, quotes stripped, junk skipped', () => {
    const c = parseCookies('a=1; wp_console=abc_-; a=2; junk; =x; q="v"');
    expect([...c]).toEqual([['a', '1'], ['wp_console', 'abc_-'], ['q', 'v']]);
    expect(parseCookies(undefined).size).toBe(0);
  });
  it('makes the session cookie HttpOnly, SameSite=Strict, Secure over TLS only', () => {
    expect(sessionCookie('id', 43200, false)).toBe('wp_console=id; HttpOnly; SameSite=Strict; Path=/; Max-Age=43200');
    expect(sessionCookie('id', 43200, true)).toMatch(/; Secure$/);
  });
});

describe('log cursors', () => {
  const entry = { seq: 42 } as LogEntry;
  it('round-trips within a run; another run means from the start; none is undefined', () => {
    expect(parseCursor(cursorOf(entry, 'run1'), 'run1')).toBe(42);
    expect(parseCursor(cursorOf(entry, 'run1'), 'run2')).toBe(-1);
    expect(parseCursor(undefined)).toBeUndefined();
    expect(parseCursor(' ')).toBeUndefined();
  });
  it('refuses a malformed one with 400', () => {
    for (const bad of ['42', 'a.b', 'run.-1', 'r u n.1', `x.${'9'.repeat(16)}`]) {
      expect(() => parseCursor(bad, 'run')).toThrow(HttpError);
    }
  });
});

describe('encodeEvents (the logs stream)', () => {
  it('says how many lines were skipped before the lines, each line with its cursor as id', () => {
    const e: LogEntry = { instanceId: 'i1', app: 'web', deploymentId: 'd1', seconds: 2, nanos: 5_000_000, source: 'app', line: 'hi\nthere', seq: 9 };
    const text = encodeEvents([e], 3);
    const [skipped, line] = text.split('\n\n');
    expect(skipped).toBe('event: skipped\ndata: {"count":3}');
    const [id, event, data] = line.split('\n');
    expect(id).toMatch(/^id: [A-Za-z0-9_-]+\.9$/);
    expect(event).toBe('event: line');
    expect(JSON.parse(data.slice('data: '.length))).toEqual({
      id: id.slice(4), app: 'web', deploymentId: 'd1', instanceId: 'i1', source: 'app', stream: null, timestamp: 2005, line: 'hi\nthere',
    });
    expect(encodeEvents([e], 0)).not.toMatch(/skipped/);
  });
});

describe('matchRoute', () => {
  const h = async () => undefined;
  const routes: Route[] = [
    { method: 'GET', path: '/api/v1/config', auth: 'operator', handle: h },
    { method: 'PUT', path: '/api/v1/config', auth: 'operator', handle: h },
    { method: 'GET', path: '/api/v1/logs', auth: 'operator', handle: h },
  ];
  it('matches method and exact path (a trailing slash aside), else 404, or 405 with what is allowed', () => {
    expect(matchRoute(routes, 'PUT', '/api/v1/config')).toEqual({ ok: true, route: routes[1] });
    expect(matchRoute(routes, 'GET', '/api/v1/logs/')).toEqual({ ok: true, route: routes[2] });
    expect(matchRoute(routes, 'DELETE', '/api/v1/config')).toEqual({ ok: false, status: 405, allow: ['GET', 'PUT'] });
    expect(matchRoute(routes, 'GET', '/api/v1/logsx')).toEqual({ ok: false, status: 404 });
    expect(matchRoute(routes, 'GET', '/api/v1/logs/stream')).toEqual({ ok: false, status: 404 });
  });
});

describe("the README's table of routes", () => {
  it('lists every route the console serves, with its methods, and no other', () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const listed = readme
      .split('\n')
      .filter((l) => /^\| [A-Z][A-Z, ]* \| `\/api\//.test(l))
      .flatMap((l) => {
        const [, methods, where] = l.split('|').map((c) => c.trim());
        const route = /^`([^`?]+)/.exec(where)![1];
        return methods.split(/,\s*/).map((m) => `${m} ${route}`);
      });
    const served = [...ROUTES.map((r) => `${r.method} ${r.path}`), `WS ${EXEC_PATH}`];
    expect(listed.sort()).toEqual(served.sort());
  });
});

describe('chooseEncoding', () => {
  const all = ['identity', 'br', 'gzip'] as const;
  it('prefers brotli, then gzip, as the client takes them', () => {
    expect(chooseEncoding('gzip, deflate, br', all)).toBe('br');
    expect(chooseEncoding('gzip', all)).toBe('gzip');
    expect(chooseEncoding('br;q=0, gzip;q=0.8', all)).toBe('gzip');
    expect(chooseEncoding('*', all)).toBe('br');
    expect(chooseEncoding(undefined, all)).toBe('identity');
    expect(chooseEncoding('gzip, br', ['identity'])).toBe('identity');
  });
});

describe('changeOf (PUT /api/v1/config)', () => {
  it('takes vars with a kind (default static) and an app', () => {
    const { app, set } = changeOf({ app: 'web', vars: [{ name: 'A', value: 'é' }, { name: '/etc/x', value: 'y', kind: 'file' }] });
    expect(app).toBe('web');
    expect(set.map((v) => [v.name, v.kind, v.value.toString()])).toEqual([['A', 'static', 'é'], ['/etc/x', 'file', 'y']]);
  });
  it('refuses another shape with 400', () => {
    for (const body of [null, [], { vars: [] }, { vars: [{ name: 'A' }] }, { vars: [{ name: 'A', value: 1 }] }, { vars: [{ name: 'A', value: '1', kind: 'secret' }] }, { app: 3, vars: [{ name: 'A', value: '1' }] }, { app: 'bad app', vars: [{ name: 'A', value: '1' }] }]) {
      expect(() => changeOf(body)).toThrow();
    }
  });
});

describe('cameOverTls (the cookie\'s Secure)', () => {
  const req = (encrypted: boolean, remoteAddress: string, proto?: string) =>
    ({ socket: { encrypted, remoteAddress }, headers: proto ? { 'x-forwarded-proto': proto } : {} }) as unknown as IncomingMessage;
  const trusted = (a: string | undefined) => a === '10.0.0.1';
  it('is TLS here, or https said by a trusted proxy only', () => {
    expect(cameOverTls(req(true, '127.0.0.1'), trusted)).toBe(true);
    expect(cameOverTls(req(false, '10.0.0.1', 'https'), trusted)).toBe(true);
    expect(cameOverTls(req(false, '10.0.0.1', 'HTTPS, http'), trusted)).toBe(true);
    expect(cameOverTls(req(false, '10.0.0.1', 'http'), trusted)).toBe(false);
    expect(cameOverTls(req(false, '127.0.0.1', 'https'), trusted)).toBe(false);
    expect(cameOverTls(req(false, '127.0.0.1'), trusted)).toBe(false);
  });
});

describe('ConsoleSessions', () => {
  it('finds a session by its id until it expires, ends, or its token is revoked; closes its streams', async () => {
    let now = 1_000;
    const sessions = new ConsoleSessions(new MemorySessionRecords(), 100, () => now);
    const ended: string[][] = [];
    sessions.onEnded = (keys) => ended.push(keys);
    const a = await sessions.create('tok-a');
    const b = await sessions.create('tok-b');
    expect(await sessions.get(a.id)).toEqual(a.session);
    expect(csrfMatches(a.session, a.session.csrf)).toBe(true);
    expect(csrfMatches(a.session, b.session.csrf)).toBe(false);
    expect(csrfMatches(a.session, undefined)).toBe(false);
    let closed = 0;
    sessions.track(a.session, () => closed++);
    expect(await sessions.endTokens(['tok-a'])).toBe(1);
    expect(closed).toBe(1);
    expect(await sessions.get(a.id)).toBeUndefined();
    let bClosed = 0;
    sessions.track(b.session, () => bClosed++);
    now += 100;
    await sessions.sweep();
    expect(bClosed).toBe(1); // its stream ends at its expiry, asked or not
    expect(await sessions.get(b.id)).toBeUndefined();
    expect(await sessions.get('not-an-id')).toBeUndefined();

    // A sign-out is told to the other replicas; one told by them closes the streams here.
    const c = await sessions.create('tok-c');
    await sessions.end(c.session.key);
    expect(ended).toEqual([[c.session.key]]);
    const d = await sessions.create('tok-d');
    let dClosed = 0;
    sessions.track(d.session, () => dClosed++);
    sessions.endedElsewhere([d.session.key]);
    expect(dClosed).toBe(1);
  });

  it('keeps at most MAX_SESSIONS, those expiring first going', async () => {
    const records = new MemorySessionRecords();
    const s = (key: string, expiresAt: number) => ({ key, tokenId: 't', csrf: 'c', expiresAt });
    expect(await records.add(s('late', 300), 2)).toEqual([]);
    expect(await records.add(s('early', 100), 2)).toEqual([]);
    expect(await records.add(s('new', 400), 2)).toEqual(['early']);
    expect(await records.get('late')).toBeDefined();
  });
});
