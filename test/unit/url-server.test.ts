// The server side of the URL service, pure parts: Host routing, the choice of endpoint (round
// robin, limits, liveness), the URL token, and the headers a proxy forwards.
import { describe, expect, it } from 'vitest';
import { clientAddress, endToEnd, requestHeaders, upgradeHead, withForwarded } from '../../src/server/ingress/headers.js';
import { domainProblem, parseHost } from '../../src/server/ingress/host.js';
import { Status } from '../../src/server/status.js';
import type { Deployment } from '../../src/server/store.js';
import { TokenSigner } from '../../src/server/tokens.js';
import { EndpointSet } from '../../src/server/tunnel/endpoints.js';
import { checkUrlToken, urlToken } from '../../src/server/tunnel/url-token.js';

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
  const client = { remoteAddress: '192.0.2.7', host: 'web.localhost:9702' };

  it('drops hop-by-hop headers and those the Connection header names', () => {
    const raw = ['Host', 'h', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', '5', 'x-secret', 's', 'TE', 'trailers', 'Upgrade', 'h2c',
      'Proxy-Authorization', 'p', 'Transfer-Encoding', 'chunked', 'X-Kept', 'a', 'x-kept', 'b'];
    expect(endToEnd(raw)).toEqual(['Host', 'h', 'X-Kept', 'a', 'x-kept', 'b']);
  });

  it('appends to X-Forwarded-For and adds -Proto and -Host unless a proxy in front set them', () => {
    expect(withForwarded(['Host', 'h'], client)).toEqual([
      'Host', 'h', 'X-Forwarded-For', '192.0.2.7', 'X-Forwarded-Proto', 'http', 'X-Forwarded-Host', 'web.localhost:9702',
    ]);
    expect(withForwarded(['X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2', 'X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'a.com'], client))
      .toEqual(['X-Forwarded-Proto', 'https', 'X-Forwarded-Host', 'a.com', 'X-Forwarded-For', '10.0.0.1, 10.0.0.2, 192.0.2.7']);
  });

  it('forwards a chunked request body as chunked, and never Expect', () => {
    const out = requestHeaders(['Transfer-Encoding', 'chunked', 'Expect', '100-continue', 'Host', 'h'], client, true);
    expect(out.filter((_, i) => i % 2 === 0)).toEqual(['Host', 'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'Transfer-Encoding']);
  });

  it('writes an upgrade\'s head with every header kept', () => {
    const head = upgradeHead('GET', '/ws?x=1', '1.1', ['Host', 'h', 'Connection', 'Upgrade', 'Upgrade', 'websocket'], client).toString();
    expect(head).toBe(
      'GET /ws?x=1 HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'X-Forwarded-For: 192.0.2.7\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: web.localhost:9702\r\n\r\n',
    );
  });

  it('shows an IPv4-mapped client address as IPv4', () => {
    expect(clientAddress('::ffff:127.0.0.1')).toBe('127.0.0.1');
    expect(clientAddress('::1')).toBe('::1');
    expect(clientAddress(undefined)).toBe('unknown');
  });
});
