// The server side of the URL service, pure parts: Host routing, the choice of endpoint (round
// robin, limits, liveness), the URL token, and the headers a proxy forwards.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { connectionBudget, openFileLimit } from '../../../../src/server/ingress/fd-budget.js';
import { clientAddress, endToEnd, requestHeaders, upgradeHeaders, withForwarded } from '../../../../src/server/ingress/headers.js';
import { parseHost } from '../../../../src/server/ingress/host.js';
import { type CheckedRequest, checkRequest } from '../../../../src/server/ingress/strict.js';
import { TrustedProxies } from '../../../../src/server/ingress/trusted.js';
import { domainProblem, parseTrustedProxies } from '../../../../src/rules/url.js';
import { Status } from '../../../../src/server/rpc/status.js';
import type { Deployment } from '../../../../src/server/store/store.js';
import { TokenSigner } from '../../../../src/server/auth/tokens.js';
import { EndpointSet } from '../../../../src/server/tunnel/endpoints.js';
import { checkUrlToken, urlToken } from '../../../../src/server/tunnel/url-token.js';

const ID = '01HZX5Q7G3N2VJ8K4M6P9R1T0W';

describe('parseHost', () => {
  it('reads <app>.<domain> and <app>--<deployment-id>.<domain>, case-insensitively, port ignored', () => {
    expect(parseHost('web.localhost', 'localhost')).toEqual({ app: 'web' });
    expect(parseHost('WEB.LocalHost:9702', 'localhost')).toEqual({ app: 'web' });
    expect(parseHost('web.localhost.', 'localhost')).toEqual({ app: 'web' });
    expect(parseHost(`web--${ID.toLowerCase()}.localhost:80`, 'localhost')).toEqual({ app: 'web', deploymentId: ID });
    expect(parseHost(`my--app.apps.example.com`, 'apps.example.com')).toEqual({ app: 'my--app' });
    expect(parseHost(`a.b.apps.example.com`, 'Apps.Example.com')).toEqual({ app: 'a.b' });
    expect(parseHost(`my--app--${ID}.localhost`, 'localhost')).toEqual({ app: 'my--app', deploymentId: ID });
  });

  it('has no target for other hosts', () => {
    for (const host of [undefined, '', 'localhost', '.localhost', 'example.com', 'weblocalhost', '127.0.0.1:9702', '[::1]:9702', 'web.localhost.evil.com']) {
      expect(parseHost(host, 'localhost')).toBeUndefined();
    }
  });

  it('takes DNS names as domains', () => {
    expect(domainProblem('localhost')).toBeUndefined();
    expect(domainProblem('apps.example.com')).toBeUndefined();
    for (const bad of ['', 'a..b', '-a.com', 'a_b.com', 'http://x', 'a.com:80']) expect(domainProblem(bad)).toMatch(/invalid URL domain/);
  });
});

interface E {
  instanceId: string;
  deploymentId: string;
  inFlight: number;
}
const ep = (instanceId: string, deploymentId = 'd1'): E => ({ instanceId, deploymentId, inFlight: 0 });

describe('EndpointSet', () => {
  it('goes round robin over a deployment\'s endpoints', () => {
    const set = new EndpointSet<E>();
    const [a, b, c] = [ep('a'), ep('b'), ep('c')];
    set.add(a);
    set.add(b);
    set.add(c);
    set.add(ep('x', 'd2'));
    const picks = Array.from({ length: 6 }, () => {
      const p = set.pick('d1', { max: 10 });
      return p.kind === 'ok' ? p.endpoint.instanceId : p.kind;
    });
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(set.pick('d3', { max: 10 })).toEqual({ kind: 'none' });
  });

  it('skips excluded, dead and full endpoints: none when nothing is left, busy when all are full', () => {
    const set = new EndpointSet<E>();
    const [a, b] = [ep('a'), ep('b')];
    set.add(a);
    set.add(b);
    a.inFlight = 2;
    expect(set.pick('d1', { max: 2 })).toEqual({ kind: 'ok', endpoint: b });
    expect(set.pick('d1', { max: 2 })).toEqual({ kind: 'ok', endpoint: b });
    b.inFlight = 2;
    expect(set.pick('d1', { max: 2 })).toEqual({ kind: 'busy' });
    expect(set.pick('d1', { max: 3 }).kind).toBe('ok');
    expect(set.pick('d1', { max: 2, exclude: new Set([a, b]) })).toEqual({ kind: 'none' });
    expect(set.pick('d1', { max: 2, exclude: new Set([a]) })).toEqual({ kind: 'busy' });
    expect(set.pick('d1', { max: 9, live: (e) => e !== a })).toEqual({ kind: 'ok', endpoint: b });
    expect(set.pick('d1', { max: 9, live: () => false })).toEqual({ kind: 'none' });
  });

  it('keeps one endpoint per instance, and the round robin\'s place when one leaves', () => {
    const set = new EndpointSet<E>();
    const [a, b, c] = [ep('a'), ep('b'), ep('c')];
    set.add(a);
    set.add(b);
    set.add(c);
    expect(set.pick('d1', { max: 9 })).toEqual({ kind: 'ok', endpoint: a });
    expect(set.pick('d1', { max: 9 })).toEqual({ kind: 'ok', endpoint: b });
    expect(set.remove(a)).toBe(true);
    expect(set.remove(a)).toBe(false);
    expect(set.pick('d1', { max: 9 })).toEqual({ kind: 'ok', endpoint: c });
    const b2 = ep('b');
    expect(set.add(b2)).toBe(b);
    expect(set.ofDeployment('d1')).toEqual([c, b2]);
    expect(set.remove(b)).toBe(false); // replaced: its removal is a no-op
    set.remove(c);
    set.remove(b2);
    expect(set.ofDeployment('d1')).toEqual([]);
    expect(set.pick('d1', { max: 9 })).toEqual({ kind: 'none' });
    expect(set.add(c)).toBeUndefined(); // a removed instance comes back as new
    expect(set.pick('d1', { max: 9 })).toEqual({ kind: 'ok', endpoint: c });
  });
});

describe('URL token', () => {
  const signer = new TokenSigner(Buffer.alloc(32, 1));
  const deployment: Deployment = { id: ID, app: 'web', labels: {}, createdAt: 1_700_000_000_123 };
  const code = (fn: () => void) => {
    try {
      fn();
    } catch (err) {
      return (err as { code: number }).code;
    }
    return 'ok';
  };

  it('is the same for a deployment every time, and another for another deployment', () => {
    expect(urlToken(signer, deployment)).toBe(urlToken(signer, { ...deployment }));
    expect(urlToken(signer, { ...deployment, id: '01HZX5Q7G3N2VJ8K4M6P9R1T0X' })).not.toBe(urlToken(signer, deployment));
    expect(signer.verify(urlToken(signer, deployment))).toMatchObject({ ok: true, claims: { kind: 'url', deployment: ID } });
  });

  it('is accepted for its own deployment only', () => {
    const token = urlToken(signer, deployment);
    expect(code(() => checkUrlToken(signer, token, ID))).toBe('ok');
    expect(code(() => checkUrlToken(signer, token, '01HZX5Q7G3N2VJ8K4M6P9R1T0X'))).toBe(Status.PERMISSION_DENIED);
    expect(code(() => checkUrlToken(signer, '', ID))).toBe(Status.UNAUTHENTICATED);
    expect(code(() => checkUrlToken(signer, `${token}x`, ID))).toBe(Status.UNAUTHENTICATED);
    expect(code(() => checkUrlToken(new TokenSigner(Buffer.alloc(32, 2)), token, ID))).toBe(Status.UNAUTHENTICATED);
    const entrypoint = signer.sign({ kind: 'entrypoint', id: 'x', deployment: ID, iat: 1 });
    expect(code(() => checkUrlToken(signer, entrypoint, ID))).toBe(Status.PERMISSION_DENIED);
  });
});

describe('forwarded headers', () => {
  const client = { remoteAddress: '192.0.2.7', host: 'web.localhost:9702', trusted: false };
  const proxy = { ...client, trusted: true };
  const names = (raw: string[]) => raw.filter((_, i) => i % 2 === 0);

  it('drops hop-by-hop headers and those the Connection header names', () => {
    const raw = ['Host', 'h', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', '5', 'x-secret', 's', 'TE', 'trailers', 'Upgrade', 'h2c',
      'Proxy-Authorization', 'p', 'Transfer-Encoding', 'chunked', 'X-Kept', 'a', 'x-kept', 'b'];
    expect(endToEnd(raw)).toEqual(['Host', 'h', 'X-Kept', 'a', 'x-kept', 'b']);
  });

  it('C1: never drops Content-Length or Host because Connection names them', () => {
    const raw = ['Host', 'h', 'Connection', 'keep-alive, content-length, Host, transfer-encoding', 'Content-Length', '5'];
    expect(endToEnd(raw)).toEqual(['Host', 'h', 'Content-Length', '5']);
  });

  it('C1: sets the app leg\'s framing itself: the length read, chunked, or none, whatever the client sent', () => {
    const raw = ['Host', 'h', 'Connection', 'content-length', 'Content-Length', '5', 'Transfer-Encoding', 'chunked'];
    const framing = (out: string[]) => out.filter((_, i) => /^(content-length|transfer-encoding)$/i.test(out[i - (i % 2)]));
    expect(framing(requestHeaders(raw, client, { kind: 'length', length: 5 }))).toEqual(['Content-Length', '5']);
    expect(framing(requestHeaders(raw, client, { kind: 'chunked' }))).toEqual(['Transfer-Encoding', 'chunked']);
    expect(framing(requestHeaders(raw, client, { kind: 'none' }))).toEqual([]);
  });

  it('L5: from a client, replaces every forwarded header with its own; from a trusted proxy, appends to them', () => {
    const forged = ['Host', 'h', 'X-Forwarded-For', '10.0.0.1', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'evil.example', 'Forwarded', 'for=1.2.3.4', 'X-Real-IP', '1.2.3.4'];
    expect(withForwarded(forged, client)).toEqual([
      'Host', 'h', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'web.localhost:9702',
    ]);
    expect(withForwarded(['X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'a.com'], proxy))
      .toEqual(['X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'a.com', 'X-Forwarded-For', '10.0.0.1, 10.0.0.2, 192.0.2.7']);
    expect(withForwarded(['Host', 'h'], proxy)).toEqual(['Host', 'h', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'web.localhost:9702']);
  });

  it('L5: forwards the host routed by as Host (an absolute-form target\'s authority)', () => {
    const out = requestHeaders(['Host', 'web.localhost', 'Connection', 'host'], { ...client, host: 'other.localhost:9702' }, { kind: 'none' });
    expect(out.slice(0, 2)).toEqual(['Host', 'other.localhost:9702']);
  });

  it('forwards a chunked request body as chunked, and never Expect', () => {
    const out = requestHeaders(['Transfer-Encoding', 'chunked', 'Expect', '100-continue', 'Host', 'h'], client, { kind: 'chunked' });
    expect(names(out)).toEqual(['Host', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Transfer-Encoding']);
  });

  it('keeps an upgrade\'s Connection tokens and Upgrade, and no framing', () => {
    const raw = ['Host', 'h', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAA', 'Content-Length', '0'];
    expect(upgradeHeaders(raw, client, 'h2c')).toEqual([
      'Host', 'web.localhost:9702', 'HTTP2-Settings', 'AAA', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'web.localhost:9702',
      'Connection', 'Upgrade, http2-settings', 'Upgrade', 'h2c',
    ]);
  });

  it('shows an IPv4-mapped client address as IPv4', () => {
    expect(clientAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientAddress('::1')).toBe('::1');
    expect(clientAddress(undefined)).toBe('unknown');
  });
});

describe('trusted proxies', () => {
  it('matches addresses and CIDRs of both families, IPv4-mapped addresses as IPv4', () => {
    const t = new TrustedProxies(parseTrustedProxies('10.0.0.0/8, 192.0.2.1,fd00::/8'));
    for (const a of ['10.1.2.3', '::ffff:10.9.9.9', '192.0.2.1', 'fd00::1']) expect(t.has(a)).toBe(true);
    for (const a of ['11.0.0.1', '192.0.2.2', '::1', 'fe80::1', undefined, 'junk']) expect(t.has(a)).toBe(false);
    expect(new TrustedProxies().has('127.0.0.1')).toBe(false);
  });

  it('refuses what is no address or CIDR, saying what is expected', () => {
    expect(parseTrustedProxies(undefined)).toEqual([]);
    expect(parseTrustedProxies('')).toEqual([]);
    for (const bad of ['10.0.0.0/33', 'example.com', '10.0.0.0/8/1', '::1/129', '10.0.0.0/x']) {
      expect(() => parseTrustedProxies(bad)).toThrow(/invalid trusted proxy .*expected an address or CIDR/);
    }
  });
});

describe('the ingress\'s share of the open-file limit', () => {
  it('H4: keeps the total connection limit within half the open-file limit, and says when it lowered it', () => {
    expect(connectionBudget(10_000, 20_000)).toEqual({ maxConnections: 10_000 });
    expect(connectionBudget(10_000, 1_024)).toEqual({ maxConnections: 512, lowered: { asked: 10_000, nofile: 1_024 } });
    expect(connectionBudget(100, undefined)).toEqual({ maxConnections: 100 });
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});

describe('what the ingress accepts of a request (strict.ts)', () => {
  const req = (url: string, raw: string[], method = 'GET') => ({ method, url, rawHeaders: raw }) as unknown as IncomingMessage;
  const failure = (c: CheckedRequest) => (c.ok ? undefined : [c.failure.status, c.failure.message]);

  it('L5: one Host; an absolute-form http:// target routed by its authority, in origin form; * for OPTIONS only', () => {
    expect(checkRequest(req('/a?b', ['Host', 'web.localhost']))).toEqual({ ok: true, host: 'web.localhost', path: '/a?b', framing: { kind: 'none' } });
    expect(checkRequest(req('http://Web.localhost:9702?x=1', ['Host', 'other']))).toMatchObject({ ok: true, host: 'Web.localhost:9702', path: '/?x=1' });
    expect(checkRequest(req('*', ['Host', 'h'], 'OPTIONS'))).toMatchObject({ ok: true, path: '*' });
    expect(failure(checkRequest(req('/', ['Host', 'a', 'host', 'a'])))).toEqual([400, 'bad request: more than one Host header']);
    expect(failure(checkRequest(req('*', ['Host', 'h'])))?.[0]).toBe(400);
    for (const url of ['https://h/', 'ws://h/', 'http://u@h/', 'http:///x', 'h:80', 'x']) expect(failure(checkRequest(req(url, ['Host', 'h'])))?.[0]).toBe(400);
  });

  it('C1: reads the framing: a length, chunked alone, or none; any other coding is 501', () => {
    expect(checkRequest(req('/', ['Host', 'h', 'Content-Length', '12']))).toMatchObject({ framing: { kind: 'length', length: 12 } });
    expect(checkRequest(req('/', ['Host', 'h', 'Transfer-Encoding', 'Chunked']))).toMatchObject({ framing: { kind: 'chunked' } });
    expect(failure(checkRequest(req('/', ['Host', 'h', 'Transfer-Encoding', 'gzip, chunked'])))?.[0]).toBe(501);
    expect(failure(checkRequest(req('/', ['Host', 'h', 'Content-Length', '1', 'Transfer-Encoding', 'chunked'])))?.[0]).toBe(400);
    expect(failure(checkRequest(req('/', ['Host', 'h', 'Content-Length', '1', 'Content-Length', '2'])))?.[0]).toBe(400);
    expect(failure(checkRequest(req('/', ['Host', 'h', 'Content-Length', '+1'])))?.[0]).toBe(400);
  });
});
