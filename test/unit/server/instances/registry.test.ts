// The live-instance registry: listing and filtering, re-registration of the same instance on a
// new stream, an id claimed by another deployment, shutdown.
import { describe, expect, it } from 'vitest';
import { checkInstanceId, type ConfigSink, type InstanceInfo, InstanceRegistry } from '../../../../src/server/instances/registry.js';
import { type RpcError, Status } from '../../../../src/server/rpc/status.js';
import { formatPeer } from '../../../../src/rules/listen.js';

function info(id: string, app = 'web', deploymentId = 'D1', connectedSince = 1, tokenId = 'T1'): InstanceInfo {
  return { id, deploymentId, app, type: 'LONG_RUNNING', execDisabled: false, connectedSince, remoteAddress: '127.0.0.1:1', tokenId };
}

function sink(): ConfigSink & { closed?: RpcError; sent: unknown[] } {
  const s: ConfigSink & { closed?: RpcError; sent: unknown[] } = {
    sent: [],
    send: (r) => s.sent.push(r),
    close: (e) => {
      s.closed = e;
    },
  };
  return s;
}

describe('InstanceRegistry', () => {
  it('lists by connection time, filtered by app or deployment', () => {
    const r = new InstanceRegistry();
    r.add(info('b', 'web', 'D1', 2), sink());
    r.add(info('a', 'api', 'D2', 1), sink());
    expect(r.list().map((i) => i.id)).toEqual(['a', 'b']);
    expect(r.list({ app: 'web' }).map((i) => i.id)).toEqual(['b']);
    expect(r.list({ deploymentId: 'D2' }).map((i) => i.id)).toEqual(['a']);
    expect(r.ofApp('web').map((e) => e.info.id)).toEqual(['b']);
    r.add(info('c', 'web', 'D1', 3), sink());
    expect(r.apps().sort()).toEqual(['api', 'web']);
  });

  it('removes an instance through the function add returned', () => {
    const r = new InstanceRegistry();
    const remove = r.add(info('a'), sink());
    remove();
    expect(r.list()).toEqual([]);
  });

  it('replaces an instance registering again, ends its old stream, and ignores the old removal', () => {
    const r = new InstanceRegistry();
    const first = sink();
    const removeFirst = r.add(info('a', 'web', 'D1', 1), first);
    const second = sink();
    r.add(info('a', 'web', 'D1', 2), second);
    expect(first.closed?.code).toBe(Status.ABORTED);
    removeFirst(); // the old stream's end arrives after the new registration
    expect(r.get('a')?.sink).toBe(second);
  });

  it('refuses an instance id live in another deployment', () => {
    const r = new InstanceRegistry();
    r.add(info('a', 'web', 'D1'), sink());
    expect(() => r.add(info('a', 'web', 'D2'), sink())).toThrow(/already registered by deployment D1/);
  });

  it('M4: refuses an instance past the cap per token, then per deployment (RESOURCE_EXHAUSTED naming the flag)', () => {
    const r = new InstanceRegistry({ perDeployment: 3, perToken: 2 });
    const removeA = r.add(info('a', 'web', 'D1', 1, 'T1'), sink());
    const removeB = r.add(info('b', 'web', 'D1', 1, 'T1'), sink());
    const perToken = expect.objectContaining({ code: Status.RESOURCE_EXHAUSTED, message: expect.stringMatching(/this token has 2 live instances.*--max-instances-per-token/) });
    expect(() => r.add(info('c', 'web', 'D1', 1, 'T1'), sink())).toThrow(perToken);
    r.add(info('a', 'web', 'D1', 2, 'T1'), sink()); // the same instance again is no new one
    r.add(info('c', 'web', 'D1', 1, 'T2'), sink());
    const perDeployment = expect.objectContaining({ code: Status.RESOURCE_EXHAUSTED, message: expect.stringMatching(/deployment D1 has 3 live instances.*--max-instances-per-deployment/) });
    expect(() => r.add(info('d', 'web', 'D1', 1, 'T3'), sink())).toThrow(perDeployment);
    r.add(info('e', 'api', 'D2', 1, 'T3'), sink()); // another deployment has room of its own
    removeA(); // the replaced stream's removal: a is still live
    expect(() => r.add(info('d', 'web', 'D1', 1, 'T3'), sink())).toThrow(perDeployment);
    removeB(); // b leaves: room for one more
    r.add(info('d', 'web', 'D1', 1, 'T3'), sink());
    expect(r.list({ deploymentId: 'D1' }).map((i) => i.id).sort()).toEqual(['a', 'c', 'd']);
  });

  it('M4: an instance registering again with a new token counts for that token, no longer the old one; shutdown frees every place', () => {
    const r = new InstanceRegistry({ perDeployment: 2, perToken: 1 });
    r.add(info('a', 'web', 'D1', 1, 'T1'), sink());
    const removeA = r.add(info('a', 'web', 'D1', 2, 'T2'), sink()); // the entrypoint exchanged its invite again
    expect(() => r.add(info('b', 'web', 'D1', 1, 'T2'), sink())).toThrow(/this token has 1 live instances/);
    r.add(info('b', 'web', 'D1', 1, 'T1'), sink());
    expect(() => r.add(info('c', 'web', 'D1', 1, 'T3'), sink())).toThrow(/deployment D1 has 2 live instances/);
    removeA();
    r.add(info('c', 'web', 'D1', 1, 'T2'), sink());
    r.closeAll('stopping');
    r.add(info('d', 'web', 'D1', 1, 'T1'), sink());
    r.add(info('e', 'web', 'D1', 1, 'T2'), sink());
    expect(r.list().map((i) => i.id)).toEqual(['d', 'e']);
  });

  it('M4: instance ids are bounded in length and charset (INVALID_ARGUMENT, never echoed whole)', () => {
    checkInstanceId('01HQZX7Y8K9M2N3P4Q5R6S7T8V', 'test');
    checkInstanceId('web-7f9c5d.host:1@x+y=z_', 'test');
    checkInstanceId('a'.repeat(128), 'test');
    const invalid = expect.objectContaining({ code: Status.INVALID_ARGUMENT });
    for (const id of ['a'.repeat(129), 'a'.repeat(300 * 1024), 'esc\x1b[2J', 'new\nline', 'sp ace', '-lead', 'ünï', 'a/b']) {
      expect(() => checkInstanceId(id, 'test')).toThrow(invalid);
      try {
        checkInstanceId(id, 'test');
      } catch (err) {
        expect((err as Error).message.length).toBeLessThan(300);
      }
    }
  });

  it('ends every stream with UNAVAILABLE on shutdown', () => {
    const r = new InstanceRegistry();
    const s = sink();
    r.add(info('a'), s);
    r.closeAll('bye');
    expect(s.closed?.code).toBe(Status.UNAVAILABLE);
    expect(r.list()).toEqual([]);
  });
});

describe('formatPeer', () => {
  it('brackets IPv6 peers', () => {
    expect(formatPeer('127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(formatPeer('::1:5000')).toBe('[::1]:5000');
    expect(formatPeer('[::1]:5000')).toBe('[::1]:5000');
  });
});
