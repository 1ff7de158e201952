// The mark of a request one replica's ingress forwards to another's: it carries what the first
// saw of the client, and counts only when signed with the replicas' shared key and recent.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { TokenSigner } from '../../../../src/server/auth/tokens.js';
import { HOP_HEADER, ReplicaIngress } from '../../../../src/server/ingress/elsewhere.js';
import { endToEnd } from '../../../../src/server/ingress/headers.js';
import type { Replicas } from '../../../../src/server/replicas/replicas.js';

const self = { id: '01REPLICAA', grpcAddress: '127.0.0.1:1', version: '1', startedAt: 1, heartbeatAt: 1, alive: true };
const replicas = { self, shared: true } as unknown as Replicas;
const key = Buffer.alloc(32, 7);
const a = new ReplicaIngress(replicas, new TokenSigner(key));
const withMark = (value: string) => ({ headers: { [HOP_HEADER]: value } }) as unknown as IncomingMessage;

describe('the ingress hop mark', () => {
  it('carries the client as the first replica saw it to one sharing the key', () => {
    const b = new ReplicaIngress({ ...replicas, self: { ...self, id: 'B' } } as Replicas, new TokenSigner(Buffer.from(key)));
    const mark = a.mark({ remoteAddress: '2001:db8::1', host: 'web.example.com', trusted: true });
    expect(b.verify(withMark(mark))).toEqual({ hop: '01REPLICAA', remoteAddress: '2001:db8::1', trusted: true });
  });

  it('is ignored when signed with another key, altered, stale, or absent', () => {
    const mark = a.mark({ remoteAddress: '10.0.0.1', host: 'h', trusted: false }, 1_000_000);
    expect(a.verify(withMark(mark), 1_000_000)).toMatchObject({ remoteAddress: '10.0.0.1', trusted: false });
    const other = new ReplicaIngress(replicas, new TokenSigner(Buffer.alloc(32, 8)));
    expect(other.verify(withMark(mark), 1_000_000)).toBeUndefined();
    expect(a.verify(withMark(mark.replace(' 0 ', ' 1 ')), 1_000_000)).toBeUndefined();
    expect(a.verify(withMark(mark.replace('10.0.0.1', '10.0.0.2')), 1_000_000)).toBeUndefined();
    expect(a.verify(withMark(mark), 1_000_000 + 6 * 60_000)).toBeUndefined();
    expect(a.verify({ headers: {} } as IncomingMessage)).toBeUndefined();
    expect(a.verify(withMark('forged'))).toBeUndefined();
  });

  it('never reaches an app, either way', () => {
    expect(endToEnd(['Host', 'x', 'X-Waypoint-Replica-Hop', 'anything', 'Accept', '*/*'])).toEqual(['Host', 'x', 'Accept', '*/*']);
  });
});

describe('where an app was found', () => {
  it('is kept for a moment, by app (any case of its name) and deployment, then asked again', async () => {
    const b = { id: 'B', grpcAddress: 'b:1', httpAddress: 'b:2', version: '1', startedAt: 1, heartbeatAt: 1, alive: true };
    const info = (deploymentId: string) => ({ id: `i-${deploymentId}`, deploymentId, app: 'Web', type: 'LONG_RUNNING', execDisabled: false, connectedSince: 1, remoteAddress: '', tokenId: 'T', urlTunnel: true });
    let asked = 0;
    const shared = { self, shared: true, remoteInstances: async () => (asked++, [{ replica: b, info: info('01A') }, { replica: b, info: info('01B') }]) };
    const ingress = new ReplicaIngress(shared as unknown as Replicas, new TokenSigner(key));
    expect(ingress.recent('web')).toBeUndefined();
    expect(await ingress.find('Web')).toMatchObject({ app: 'Web', deploymentId: '01B', replica: { id: 'B' } });
    expect(ingress.recent('web')).toMatchObject({ deploymentId: '01B' });
    expect(ingress.recent('web', '01A')).toBeUndefined();
    expect(ingress.recent('web', undefined, Date.now() + 1_001)).toBeUndefined();
    expect(asked).toBe(1);
    ingress.close();
  });
});

