// The console's API on the real server: who may call what (no credentials 401, the operator
// token or its session ok, entrypoint, invite and URL tokens 403), sign-in and sign-out, a
// session ended by the rotation of its token, CSRF and Origin on writes, the body limit, and
// which Host reaches the console at all.
import http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { EXEC_PATH, ROUTES } from '../../../../src/server/console/console.js';
import { api, closeEventReaders, closeExecSockets, openEvents, openExec, removeConsoleFixtures, signIn, startConsoleServer } from '../../../helpers/console.js';
import { killAll, withDeadline } from '../../../helpers/run.js';
import { stopServers, type TestServer } from '../../../helpers/server.js';

afterEach(async () => {
  closeEventReaders();
  closeExecSockets();
  killAll();
  await stopServers();
  removeConsoleFixtures();
});

const READS = ['/api/v1/apps', '/api/v1/deployments', '/api/v1/instances', '/api/v1/exec-history', '/api/v1/urls', '/api/v1/config', '/api/v1/logs'];
const STREAMS = ['/api/v1/instances/stream', '/api/v1/logs/stream'];

/** Every token kind but the operator's: an invite, an entrypoint token, the deployment's URL token. */
async function otherTokens(server: TestServer) {
  const inst = await server.connectInstance('web');
  const { inviteToken } = await server.createDeployment('web');
  const urlToken = inst.config.messages[0].config!.url_service!.token;
  return { invite: inviteToken, entrypoint: inst.token, url: urlToken };
}

async function globalVars(server: TestServer): Promise<string[]> {
  const r = await api(server, 'GET', '/api/v1/config', { token: server.operatorToken });
  return (r.json.vars as Array<{ name: string }>).map((v) => v.name);
}

/** A body sent in chunks with no Content-Length, each once the socket took the one before; the answer, whenever it comes. */
function sendChunked(server: TestServer, method: string, urlPath: string, headers: Record<string, string>, body: string): Promise<{ status: number; error: string }> {
  return withDeadline(
    new Promise((resolve, reject) => {
      let answered = false;
      const req = http.request(
        { host: '127.0.0.1', port: server.httpPort, method, path: urlPath, agent: false, headers: { ...headers, Host: `localhost:${server.httpPort}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } },
        (res) => {
          answered = true;
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode!, error: String((JSON.parse(Buffer.concat(chunks).toString()) as { error?: string }).error) }));
          res.on('error', reject);
        },
      );
      // The server may close as it answers, while chunks are still on their way: the answer counts.
      req.on('error', (err) => (answered ? undefined : reject(err)));
      const data = Buffer.from(body);
      let i = 0;
      const more = () => {
        while (i < data.length && !answered) {
          const chunk = data.subarray(i, (i += 64 * 1024));
          if (!req.write(chunk)) return void req.once('drain', more);
        }
        if (!answered) req.end();
      };
      more();
    }),
    15_000,
    `${method} ${urlPath} with a chunked body`,
  );
}

describe('console API authentication', () => {
  it('answers 401 without credentials, 200 with the operator token, 403 for entrypoint, invite and URL tokens', async () => {
    const server = await startConsoleServer();
    const tokens = await otherTokens(server);
    for (const path of READS) {
      const none = await api(server, 'GET', path);
      expect([path, none.status]).toEqual([path, 401]);
      expect(none.json.error).toMatch(/sign in first/);
      expect(none.headers['content-security-policy']).toContain("default-src 'self'");
      const ok = await api(server, 'GET', path, { token: server.operatorToken });
      expect([path, ok.status]).toEqual([path, 200]);
      for (const [kind, token] of Object.entries(tokens)) {
        const r = await api(server, 'GET', path, { token });
        expect([path, kind, r.status]).toEqual([path, kind, 403]);
        expect(r.json.error).toMatch(/token/);
      }
    }
    for (const path of STREAMS) {
      expect((await openEvents(server, path)).status).toBe(401);
      const ok = await openEvents(server, path, { token: server.operatorToken });
      expect(ok.status).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^text\/event-stream/);
      ok.close();
      for (const token of Object.values(tokens)) expect((await openEvents(server, path, { token })).status).toBe(403);
    }
    const put = { body: { app: '', vars: [{ name: 'A', value: '1', kind: 'static' }] } };
    expect((await api(server, 'PUT', '/api/v1/config', put)).status).toBe(401);
    for (const token of Object.values(tokens)) expect((await api(server, 'PUT', '/api/v1/config', { ...put, token })).status).toBe(403);
    expect((await api(server, 'DELETE', '/api/v1/config?name=A', { token: tokens.entrypoint })).status).toBe(403);
    expect(await globalVars(server)).toEqual([]);
    expect((await api(server, 'PUT', '/api/v1/config', { ...put, token: server.operatorToken })).json).toEqual({ changed: 1, instancesNotified: 1 });
    expect(await globalVars(server)).toEqual(['A']);
    expect((await api(server, 'DELETE', '/api/v1/config?name=A', { token: server.operatorToken })).json).toMatchObject({ changed: 1 });
    expect(await globalVars(server)).toEqual([]);
    // A bad token: 401; a malformed header: 401.
    expect((await api(server, 'GET', '/api/v1/apps', { token: 'wp1.bad.token' })).status).toBe(401);
    expect((await api(server, 'GET', '/api/v1/apps', { headers: { Authorization: 'Basic eDp5' } })).status).toBe(401);
    // Unknown routes and methods.
    expect((await api(server, 'GET', '/api/v1/nope', { token: server.operatorToken })).status).toBe(404);
    const wrong = await api(server, 'POST', '/api/v1/apps', { token: server.operatorToken });
    expect([wrong.status, wrong.headers.allow]).toEqual([405, 'GET']);
  });

  it('every route the console serves, the WebSocket too: 401 without credentials, 403 for entrypoint, invite and URL tokens, nothing changed', async () => {
    const server = await startConsoleServer();
    const tokens = await otherTokens(server);
    expect((await server.ctl(['config', 'set', 'KEEP=1'])).code).toBe(0);
    // The table the server routes by (console.ts), so that a route added later is checked too.
    expect(ROUTES.length).toBeGreaterThanOrEqual(14);
    for (const route of ROUTES) {
      const label = `${route.method} ${route.path}`;
      if (route.method === 'POST' && route.path === '/api/v1/session') {
        // Sign-in: the token comes in the body.
        const none = await api(server, 'POST', route.path, { body: {} });
        expect([label, none.status, none.headers['set-cookie']]).toEqual([label, 400, undefined]);
        for (const [kind, token] of Object.entries(tokens)) {
          const r = await api(server, 'POST', route.path, { body: { token } });
          expect([label, kind, r.status, r.headers['set-cookie']]).toEqual([label, kind, 403, undefined]);
        }
        continue;
      }
      // A request the route would take from the operator: a refusal is the caller's.
      const target = route.method === 'DELETE' && route.path === '/api/v1/config' ? `${route.path}?name=KEEP` : route.path;
      const body = route.method === 'PUT' ? { app: '', vars: [{ name: 'OTHER', value: '1' }] } : undefined;
      const status = async (token?: string): Promise<{ status: number; error: string }> => {
        if (route.path.endsWith('/stream')) {
          const r = await openEvents(server, target, { token });
          r.close();
          return { status: r.status, error: r.status === 200 ? '' : 'refused' };
        }
        const r = await api(server, route.method, target, { token, body });
        return { status: r.status, error: String(r.json?.error ?? '') };
      };
      const none = await status();
      expect([label, none.status]).toEqual([label, 401]);
      expect(none.error).toMatch(/\w/);
      for (const [kind, token] of Object.entries(tokens)) {
        const r = await status(token);
        expect([label, kind, r.status]).toEqual([label, kind, 403]);
      }
    }
    // The WebSocket: an upgrade from this very origin, then refused (1008) with a reason.
    for (const [kind, opts] of Object.entries({ none: { origin: `http://localhost:${server.httpPort}` }, ...Object.fromEntries(Object.entries(tokens).map(([k, token]) => [k, { token }])) })) {
      const sock = await openExec(server, opts);
      expect([EXEC_PATH, kind, sock.refused, (await sock.closed).code]).toEqual([EXEC_PATH, kind, undefined, 1008]);
      expect(sock.messages[0]).toMatchObject({ type: 'error', error: expect.stringMatching(kind === 'none' ? /sign in/ : /token/) });
    }
    expect(await globalVars(server)).toEqual(['KEEP']);
    expect((await api(server, 'GET', '/api/v1/exec-history', { token: server.operatorToken })).json).toEqual({ sessions: [] });
  });

  it('signs in with the operator token only, then the cookie works until sign-out; after it, 401', async () => {
    const server = await startConsoleServer();
    const tokens = await otherTokens(server);
    expect((await api(server, 'POST', '/api/v1/session', { body: { token: 'wp1.x.y' } })).status).toBe(401);
    for (const token of Object.values(tokens)) {
      const r = await api(server, 'POST', '/api/v1/session', { body: { token } });
      expect(r.status).toBe(403);
      expect(r.headers['set-cookie']).toBeUndefined();
    }
    const s = await signIn(server);
    expect(s.setCookie).toMatch(/^wp_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/; Max-Age=43200$/);
    expect(s.expiresAt).toBeGreaterThan(Date.now() + 11 * 3600_000);
    const state = await api(server, 'GET', '/api/v1/session', { cookie: s.cookie });
    expect(state.json).toEqual({ csrf: s.csrf, expiresAt: s.expiresAt });
    expect((await api(server, 'GET', '/api/v1/apps', { cookie: s.cookie })).status).toBe(200);
    expect((await api(server, 'GET', '/api/v1/session', { cookie: 'wp_console=forged' })).status).toBe(401);

    // Sign-out is a write: the CSRF token is needed.
    expect((await api(server, 'DELETE', '/api/v1/session', { cookie: s.cookie })).status).toBe(403);
    const out = await api(server, 'DELETE', '/api/v1/session', { cookie: s.cookie, csrf: s.csrf });
    expect(out.status).toBe(204);
    expect(out.headers['set-cookie']?.[0]).toMatch(/^wp_console=; .*Max-Age=0/);
    expect((await api(server, 'GET', '/api/v1/apps', { cookie: s.cookie })).status).toBe(401);
    expect((await api(server, 'GET', '/api/v1/session', { cookie: s.cookie })).status).toBe(401);
    // A write with the old cookie and its CSRF token, from this very origin: refused, nothing set.
    const late = await api(server, 'PUT', '/api/v1/config', { cookie: s.cookie, csrf: s.csrf, origin: `http://localhost:${server.httpPort}`, body: { app: '', vars: [{ name: 'LATE', value: '1' }] } });
    expect(late.status).toBe(401);
    expect(late.json.error).toMatch(/session has ended/);
    expect(await globalVars(server)).toEqual([]);
    const records = server.proc.stderr().toString();
    expect(records).toMatch(/"event":"console.signin".*"actor_kind":"operator"/);
    expect(records).toMatch(/"event":"console.signout"/);
  });

  it('ends the sessions and streams of an operator token when it is rotated', async () => {
    const server = await startConsoleServer();
    const s = await signIn(server);
    const stream = await openEvents(server, '/api/v1/instances/stream', { cookie: s.cookie });
    const bearer = await openEvents(server, '/api/v1/logs/stream', { token: server.operatorToken });
    expect([stream.status, bearer.status]).toEqual([200, 200]);
    const rotated = await server.ctl(['token', 'rotate-operator']);
    expect(rotated.code).toBe(0);
    await withDeadline(Promise.all([stream.ended, bearer.ended]), 5_000, 'both streams to end');
    const r = await api(server, 'GET', '/api/v1/apps', { cookie: s.cookie });
    expect(r.status).toBe(401);
    expect((await api(server, 'GET', '/api/v1/apps', { token: server.operatorToken })).status).toBe(401);
  });

  it('refuses cookie writes without the CSRF token, with a wrong one, or from another origin, and changes nothing', async () => {
    const server = await startConsoleServer();
    const s = await signIn(server);
    const body = { app: '', vars: [{ name: 'A', value: '1' }] };
    const origin = `http://localhost:${server.httpPort}`;
    for (const opts of [{}, { csrf: 'wrong' }, { csrf: s.csrf, origin: 'http://evil.example' }, { csrf: s.csrf, origin: `http://localhost:${server.httpPort! + 1}` }]) {
      const r = await api(server, 'PUT', '/api/v1/config', { cookie: s.cookie, body, ...opts });
      expect([JSON.stringify(opts), r.status]).toEqual([JSON.stringify(opts), 403]);
      expect(r.json.error).toMatch(/CSRF|another site/);
    }
    expect((await api(server, 'DELETE', '/api/v1/config?name=A', { cookie: s.cookie, csrf: 'nope' })).status).toBe(403);
    expect(await globalVars(server)).toEqual([]);
    // Sign-in from another site's page is refused too.
    expect((await api(server, 'POST', '/api/v1/session', { body: { token: server.operatorToken }, origin: 'http://evil.example' })).status).toBe(403);
    const ok = await api(server, 'PUT', '/api/v1/config', { cookie: s.cookie, csrf: s.csrf, origin, body });
    expect(ok.status).toBe(200);
    expect(await globalVars(server)).toEqual(['A']);
    const audit = server.proc.stderr().toString();
    expect(audit).toMatch(/"event":"config.set".*"names":\["A"\].*"actor_kind":"operator".*"peer":"127.0.0.1:\d+"/);
  });

  it('refuses a body over 1 MiB (413) and a config name the rules refuse (400), changing nothing', async () => {
    const server = await startConsoleServer();
    const huge = { app: '', vars: [{ name: 'BIG', value: 'x'.repeat(1024 * 1024 + 10) }] };
    const big = await api(server, 'PUT', '/api/v1/config', { token: server.operatorToken, body: huge });
    expect(big.status).toBe(413);
    expect(big.json.error).toMatch(/over 1 MiB/);
    // The same without a Content-Length (chunked): cut off once past the limit.
    const chunked = await sendChunked(server, 'PUT', '/api/v1/config', { Authorization: `Bearer ${server.operatorToken}` }, JSON.stringify(huge));
    expect(chunked.status).toBe(413);
    expect(chunked.error).toMatch(/over 1 MiB/);
    // Sign-in takes no credentials before its body: its body has the limit too.
    const signInBig = await api(server, 'POST', '/api/v1/session', { body: { token: 'x'.repeat(2 * 1024 * 1024) } });
    expect([signInBig.status, signInBig.headers['set-cookie']]).toEqual([413, undefined]);
    const signInChunked = await sendChunked(server, 'POST', '/api/v1/session', {}, JSON.stringify({ token: 'x'.repeat(2 * 1024 * 1024) }));
    expect(signInChunked.status).toBe(413);
    const bad = await api(server, 'PUT', '/api/v1/config', { token: server.operatorToken, body: { app: '', vars: [{ name: 'OK', value: '1' }, { name: '1BAD-NAME', value: 'x' }] } });
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatch(/invalid env var name "1BAD-NAME"/);
    const app = await api(server, 'PUT', '/api/v1/config', { token: server.operatorToken, body: { app: 'no/such', vars: [{ name: 'A', value: '1' }] } });
    expect(app.status).toBe(400);
    expect((await api(server, 'PUT', '/api/v1/config', { token: server.operatorToken, raw: '{not json' })).status).toBe(400);
    expect(await globalVars(server)).toEqual([]);
  });
});

/**
 * A body of `bytes` sent to the end whatever comes back (as curl does), in 64 KiB writes: the
 * status, or how the connection failed (the error's code) when no answer came first.
 */
function sendAll(server: TestServer, bytes: number, chunked: boolean): Promise<number | string> {
  return withDeadline(
    new Promise((resolve) => {
      let status: number | undefined;
      const headers: Record<string, string | number> = { Authorization: `Bearer ${server.operatorToken}`, Host: `localhost:${server.httpPort}`, 'Content-Type': 'application/json' };
      if (chunked) headers['Transfer-Encoding'] = 'chunked';
      else headers['Content-Length'] = bytes;
      const req = http.request({ host: '127.0.0.1', port: server.httpPort, method: 'PUT', path: '/api/v1/config', agent: false, headers }, (res) => {
        status = res.statusCode;
        res.resume();
        res.on('end', () => resolve(status!));
        res.on('error', () => resolve(status!));
      });
      req.on('error', (err: NodeJS.ErrnoException) => (status === undefined ? resolve(err.code ?? err.message) : undefined));
      const piece = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const more = () => {
        while (sent < bytes) {
          sent += piece.length;
          if (!req.write(piece)) return void req.once('drain', more);
        }
        req.end();
      };
      more();
    }),
    20_000,
    'a PUT of a body over the limit',
  );
}

describe('a refused body still on its way', () => {
  it('is read and dropped, so that a client still sending gets the 413, not a reset (with and without Content-Length)', async () => {
    const server = await startConsoleServer();
    const answers: Array<number | string> = [];
    for (let i = 0; i < 8; i++) answers.push(await sendAll(server, 4 * 1024 * 1024, i % 2 === 0), await sendAll(server, 4 * 1024 * 1024, i % 2 === 1));
    expect(answers).toEqual(Array(16).fill(413));
    expect(await globalVars(server)).toEqual([]);
  });

  it('is dropped for a while only: a client sending without end is cut off, and the server goes on', async () => {
    const server = await startConsoleServer();
    const started = Date.now();
    const socket = await new Promise<import('node:net').Socket>((resolve) => {
      const req = http.request({
        host: '127.0.0.1',
        port: server.httpPort,
        method: 'PUT',
        path: '/api/v1/config',
        agent: false,
        headers: { Authorization: `Bearer ${server.operatorToken}`, Host: `localhost:${server.httpPort}`, 'Transfer-Encoding': 'chunked' },
      });
      req.on('error', () => undefined);
      req.on('response', (res) => res.resume());
      req.on('socket', resolve);
      const piece = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (!req.destroyed && req.write(piece));
        if (!req.destroyed) req.once('drain', more);
      };
      more();
    });
    await withDeadline(new Promise((resolve) => (socket.destroyed ? resolve(undefined) : socket.once('close', resolve))), 15_000, 'the server to cut the endless body off');
    // The limits of the drop (2 s, 8 MiB past the 1 MiB) end it well before the deadline.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect((await api(server, 'GET', '/api/v1/apps', { token: server.operatorToken })).status).toBe(200);
  });
});

describe('which host is the console', () => {
  it('serves the bare host (localhost, an IP, the URL domain) and leaves <app>.<domain> to the apps; --console off: 404', async () => {
    const server = await startConsoleServer({ args: ['--url-domain', 'apps.test'] });
    for (const host of [`localhost:${server.httpPort}`, `127.0.0.1:${server.httpPort}`, 'apps.test', `[::1]:${server.httpPort}`]) {
      const r = await api(server, 'GET', '/api/v1/apps', { host, token: server.operatorToken });
      expect([host, r.status]).toEqual([host, 200]);
    }
    const app = await api(server, 'GET', '/api/v1/apps', { host: `web.apps.test:${server.httpPort}`, token: server.operatorToken });
    expect(app.status).toBe(404);
    expect(app.text).toMatch(/no app named web/);
    expect(app.headers['content-security-policy']).toBeUndefined();

    const off = await startConsoleServer({ args: ['--console', 'off'] });
    expect(off.proc.stdout().toString()).not.toMatch(/console:/);
    const r = await api(off, 'GET', '/', { token: off.operatorToken });
    expect(r.status).toBe(404);
    expect(r.text).toMatch(/no app at/);
    expect(server.proc.stdout().toString()).toMatch(/^console: http:\/\/localhost:\d+\/$/m);
  });
});
