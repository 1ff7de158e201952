// Which instance runs an exec request: a named one must be live and accept exec; for an app,
// never one with exec disabled, the newest deployment first, then the least busy, then the one
// chosen least recently; and a clear refusal when nothing fits.
import { describe, expect, it } from 'vitest';
import { chooseAcross, chooseForApp, chooseInstance, type InstanceLoad } from '../../../../src/server/exec/placement.js';
import type { ReplicaInfo } from '../../../../src/server/replicas/replicas.js';
import type { InstanceInfo } from '../../../../src/server/instances/registry.js';
import { type RpcError, Status } from '../../../../src/server/rpc/status.js';

function inst(id: string, deploymentId = '01A', opts: Partial<InstanceInfo> = {}): InstanceInfo {
  return { id, deploymentId, app: 'web', type: 'LONG_RUNNING', execDisabled: false, connectedSince: 1, remoteAddress: '', tokenId: 'T', ...opts };
}

function refusal(f: () => unknown): RpcError {
  try {
    f();
  } catch (err) {
    return err as RpcError;
  }
  throw new Error('expected a refusal');
}

const idle = (): InstanceLoad => ({ busy: 0, lastChosen: 0 });

describe('chooseInstance', () => {
  it('takes a live instance with exec enabled', () => {
    expect(chooseInstance('a', inst('a')).id).toBe('a');
  });

  it('refuses one that is not connected (NOT_FOUND) or has exec disabled (FAILED_PRECONDITION)', () => {
    expect(refusal(() => chooseInstance('a', undefined))).toMatchObject({
      code: Status.NOT_FOUND,
      message: 'no instance a is connected (waypoint-ctl instances lists the live ones)',
    });
    expect(refusal(() => chooseInstance('a', inst('a', '01A', { execDisabled: true })))).toMatchObject({
      code: Status.FAILED_PRECONDITION,
      message: 'exec is disabled on instance a (it runs with WAYPOINT_CEB_DISABLE_EXEC)',
    });
  });
});

describe('chooseForApp', () => {
  it('refuses an app with no connected instance, or with exec disabled on all of them', () => {
    expect(refusal(() => chooseForApp('web', [], idle))).toMatchObject({ code: Status.FAILED_PRECONDITION, message: 'app web has no connected instance' });
    expect(refusal(() => chooseForApp('web', [inst('a', '01A', { execDisabled: true })], idle)).message).toBe(
      'exec is disabled on the only connected instance of app web (it runs with WAYPOINT_CEB_DISABLE_EXEC)',
    );
    const both = [inst('a', '01A', { execDisabled: true }), inst('b', '01B', { execDisabled: true })];
    expect(refusal(() => chooseForApp('web', both, idle)).message).toBe(
      'exec is disabled on all 2 connected instances of app web (they run with WAYPOINT_CEB_DISABLE_EXEC)',
    );
  });

  it('never picks an instance with exec disabled, even in the newest deployment', () => {
    const live = [inst('old', '01A'), inst('new', '01B', { execDisabled: true })];
    expect(chooseForApp('web', live, idle).id).toBe('old');
  });

  it('prefers the newest deployment, however busy its instances are', () => {
    const live = [inst('old', '01A'), inst('new', '01B')];
    expect(chooseForApp('web', live, (id) => ({ busy: id === 'new' ? 9 : 0, lastChosen: 0 })).id).toBe('new');
  });

  it('takes the least busy, then the least recently chosen, then the oldest connection', () => {
    const live = [inst('a', '01A', { connectedSince: 2 }), inst('b', '01A', { connectedSince: 3 }), inst('c', '01A', { connectedSince: 1 })];
    const load: Record<string, InstanceLoad> = { a: { busy: 1, lastChosen: 0 }, b: { busy: 0, lastChosen: 5 }, c: { busy: 0, lastChosen: 2 } };
    expect(chooseForApp('web', live, (id) => load[id]).id).toBe('c');
    load.c.busy = 2;
    expect(chooseForApp('web', live, (id) => load[id]).id).toBe('b');
    expect(chooseForApp('web', live, idle).id).toBe('c');
  });

  it('spreads a series of choices round robin when nothing is busy', () => {
    const live = [inst('a'), inst('b'), inst('c')];
    const chosen = new Map<string, number>();
    let n = 0;
    const picks = Array.from({ length: 6 }, () => {
      const id = chooseForApp('web', live, (i) => ({ busy: 0, lastChosen: chosen.get(i) ?? 0 })).id;
      chosen.set(id, ++n);
      return id;
    });
    expect(picks).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });
});

describe('chooseAcross (replicas)', () => {
  const b: ReplicaInfo = { id: 'B', grpcAddress: 'b:9701', version: '1', startedAt: 1, heartbeatAt: 1, alive: true };
  const there = (i: InstanceInfo) => ({ replica: b, info: i });
  const chosenId = (p: ReturnType<typeof chooseAcross>) => ('local' in p ? `here:${p.local.id}` : `there:${p.remote.info.id}`);

  it('takes the newest deployment wherever it is connected', () => {
    expect(chosenId(chooseAcross('web', [inst('a', '01A')], [there(inst('b', '01B'))], idle))).toBe('there:b');
    expect(chosenId(chooseAcross('web', [inst('a', '01B')], [there(inst('b', '01A'))], idle))).toBe('here:a');
  });

  it('prefers an instance here among the newest deployment\'s, even a busier one', () => {
    const load = (id: string): InstanceLoad => ({ busy: id === 'a' ? 3 : 0, lastChosen: 0 });
    expect(chosenId(chooseAcross('web', [inst('a')], [there(inst('b'))], load))).toBe('here:a');
  });

  it('spreads over the other replicas\' instances by the same rules, and never picks one with exec disabled', () => {
    const load = (id: string): InstanceLoad => ({ busy: 0, lastChosen: id === 'b' ? 5 : 0 });
    const remote = [there(inst('b')), there(inst('c')), there(inst('d', '01A', { execDisabled: true }))];
    expect(chosenId(chooseAcross('web', [], remote, load))).toBe('there:c');
  });

  it('counts every replica\'s instances in its refusals', () => {
    expect(refusal(() => chooseAcross('web', [], [], idle))).toMatchObject({ message: 'app web has no connected instance' });
    const off = { execDisabled: true };
    expect(refusal(() => chooseAcross('web', [inst('a', '01A', off)], [there(inst('b', '01A', off))], idle))).toMatchObject({
      code: Status.FAILED_PRECONDITION,
      message: 'exec is disabled on all 2 connected instances of app web (they run with WAYPOINT_CEB_DISABLE_EXEC)',
    });
  });
});
