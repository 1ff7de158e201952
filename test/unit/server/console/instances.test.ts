// The console's view of instances over a real registry and log hub, on a fake clock: connected,
// then disconnected for a few seconds after its stream closes, then gone while its lines are
// kept, then removed; a reconnect is connected again; the stream sends only changes.
import { describe, expect, it } from 'vitest';
import { DISCONNECTED_MS, InstanceView } from '../../../../src/server/console/instances.js';
import type { EventStream } from '../../../../src/server/console/sse.js';
import { type InstanceInfo, InstanceRegistry } from '../../../../src/server/instances/registry.js';
import { LogHub } from '../../../../src/server/logs/hub.js';
import type { RemoteInstance, ReplicaInfo, Replicas } from '../../../../src/server/replicas/replicas.js';
import { SoloReplicas } from '../../../../src/server/replicas/solo.js';

const sink = { send() {}, close() {} };
const SELF: ReplicaInfo = { id: 'R-SELF', grpcAddress: '10.0.0.1:9701', version: 'test', startedAt: 0, heartbeatAt: 0, alive: true };

function info(id: string, over: Partial<InstanceInfo> = {}): InstanceInfo {
  return { id, deploymentId: 'D1', app: 'web', type: 'LONG_RUNNING', execDisabled: false, connectedSince: 1000, remoteAddress: '127.0.0.1:1', tokenId: 'T1', ...over };
}

function setup() {
  let now = 10_000;
  const clock = () => now;
  const registry = new InstanceRegistry();
  const logs = new LogHub({ keepGoneMs: 60_000, now: clock });
  const view = new InstanceView({ registry, logs, replicas: new SoloReplicas(SELF, () => registry.list().length) }, clock);
  const connect = (i: InstanceInfo) => {
    const remove = registry.add(i, sink);
    logs.registered(i);
    return () => {
      remove();
      logs.gone(i.id);
    };
  };
  return { view, registry, logs, connect, advance: (ms: number) => (now += ms) };
}

describe('InstanceView', () => {
  it('shows connected, disconnected, gone, then nothing once the hub forgets it', () => {
    const { view, connect, advance } = setup();
    const leave = connect(info('a', { execDisabled: true, status: { state: 'CONFIG_REFUSED', message: 'A too big', since: 5 } }));
    expect(view.list()).toEqual([
      {
        id: 'a', app: 'web', deploymentId: 'D1', state: 'connected', connectedAt: 1000, lastSeenAt: null, execEnabled: false, logLines: 0, url: null,
        config: { restartPending: true, restartedAt: null }, status: 'CONFIG_REFUSED', statusMessage: 'A too big', replica: null,
      },
    ]);
    advance(100);
    leave();
    expect(view.list()[0]).toMatchObject({ state: 'disconnected', lastSeenAt: 10_100, connectedAt: 1000, execEnabled: false });
    advance(DISCONNECTED_MS);
    expect(view.list()[0].state).toBe('gone');
    advance(60_001);
    expect(view.list()).toEqual([]);
  });

  it('is connected again after a reconnect, and filters by app and deployment', () => {
    const { view, connect, advance } = setup();
    const leave = connect(info('a'));
    connect(info('b', { app: 'api', deploymentId: 'D2' }));
    leave();
    advance(10);
    connect(info('a', { connectedSince: 2000 }));
    expect(view.list({ app: 'web' })).toMatchObject([{ id: 'a', state: 'connected', connectedAt: 2000 }]);
    expect(view.list({ deploymentId: 'D2' }).map((i) => i.id)).toEqual(['b']);
  });

  it('streams each instance at start, then only what changed, and removed for the forgotten', () => {
    const { view, connect, advance } = setup();
    const written: string[] = [];
    let onClose = () => {};
    const events = {
      res: { writableLength: 0 },
      write: (chunk: string) => written.push(chunk) > 0,
      send: (event: string, data: unknown) => written.push(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`) > 0,
      onClose: (fn: () => void) => (onClose = fn),
    } as unknown as EventStream;
    const leave = connect(info('a'));
    view.stream(events);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^event: instance\ndata: \{"id":"a",.*"state":"connected"/);
    connect(info('b'));
    expect(written).toHaveLength(2); // a unchanged: not sent again
    leave();
    expect(written.at(-1)).toMatch(/"id":"a".*"state":"disconnected"/);
    advance(120_000);
    connect(info('c')); // any change looks again: a is forgotten by now
    expect(written.slice(-2).join('')).toMatch(/"id":"c".*event: removed\ndata: \{"id":"a"\}\n\n$/s);
    onClose();
    const before = written.length;
    connect(info('d'));
    expect(written).toHaveLength(before);
  });
});

describe('the instances of other replicas', () => {
  /** Replicas whose other members hold `remote`; counts the reads of the database. */
  function shared(remote: RemoteInstance[]) {
    const replicas = {
      self: SELF,
      shared: true,
      reads: 0,
      async remoteInstances() {
        replicas.reads++;
        return remote;
      },
    };
    return replicas as unknown as Replicas & { reads: number };
  }

  it('lists them after the local ones with their replica; a gone replica\'s as disconnected; one that moved here once, as local', async () => {
    let now = 10_000;
    const registry = new InstanceRegistry();
    const logs = new LogHub({ keepGoneMs: 60_000, now: () => now });
    const alive: ReplicaInfo = { ...SELF, id: 'R-B', grpcAddress: '10.0.0.2:9701', heartbeatAt: 9_000 };
    const gone: ReplicaInfo = { ...SELF, id: 'R-C', grpcAddress: '10.0.0.3:9701', heartbeatAt: 2_000, alive: false };
    const replicas = shared([
      { replica: alive, info: info('ON-B', { status: { state: 'RUNNING', message: '', since: 500 } }) },
      { replica: gone, info: info('ON-C', { execDisabled: true }) },
      { replica: gone, info: info('MOVED') },
    ]);
    const view = new InstanceView({ registry, logs, replicas }, () => now);
    registry.add(info('MOVED'), sink);
    await view.refreshRemote();
    const list = view.list();
    expect(list.map((i) => [i.id, i.state, i.replica?.id, i.logLines])).toEqual([
      ['MOVED', 'connected', 'R-SELF', 0],
      ['ON-B', 'connected', 'R-B', null],
      ['ON-C', 'disconnected', 'R-C', null],
    ]);
    expect(list[1].status).toBe('RUNNING');
    expect(list[2]).toMatchObject({ execEnabled: false, lastSeenAt: 2_000, replica: { address: '10.0.0.3:9701', alive: false } });

    // Readers within a poll interval share one read of the database.
    await view.refreshRemote();
    expect(replicas.reads).toBe(1);
    now += 1_000;
    await view.refreshRemote();
    expect(replicas.reads).toBe(2);
  });
});
