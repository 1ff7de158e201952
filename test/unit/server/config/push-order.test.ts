// AppConfig on an asynchronous store (a real one, its reads held back on demand): a read that
// was overtaken by a newer one is never sent after it, an instance that registers during a
// change gets the change, exec's resend needs no store read, and a push to a fleet (written a
// few hundred at a time, the loop turning between) reaches every instance still there, once.
import { afterEach, describe, expect, it } from 'vitest';
import type { EntrypointConfigResponse } from '../../../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { AppConfig } from '../../../../src/server/config/app-config.js';
import { type ConfigSink, InstanceRegistry } from '../../../../src/server/instances/registry.js';
import { silentLog } from '../../../../src/server/log.js';
import type { ConfigStore, Deployment } from '../../../../src/server/store/store.js';
import { closeTestStores, openTestStore } from '../../../helpers/store.js';

afterEach(closeTestStores);

/** The store's config; its reads are made at once, but those made during a hold answer only when it is released. */
function holdable(config: ConfigStore) {
  let gate: Promise<void> | undefined;
  const wrapped: ConfigStore = Object.create(config) as ConfigStore;
  wrapped.vars = async (app) => {
    const read = await config.vars(app);
    const held = gate;
    if (held) await held;
    return read;
  };
  return {
    config: wrapped,
    /** Holds the reads made from now until stopHolding(); returns their release. */
    hold: (): (() => void) => {
      let open!: () => void;
      gate = new Promise<void>((resolve) => (open = resolve));
      return open;
    },
    stopHolding: () => void (gate = undefined),
  };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

function recorder(): ConfigSink & { got: string[][] } {
  const got: string[][] = [];
  return { got, send: (m: EntrypointConfigResponse) => void got.push((m.config?.env_vars ?? []).map((v) => v.name!)), close: () => undefined };
}

async function setup() {
  const { store, config } = await openTestStore();
  const held = holdable(config);
  const registry = new InstanceRegistry({ perDeployment: 10_000, perToken: 10_000 });
  const appConfig = new AppConfig(store, held.config, registry, silentLog);
  const deployment = await store.createDeployment('web', {});
  const register = (id: string, d: Deployment = deployment) => {
    const sink = recorder();
    registry.add({ id, deploymentId: d.id, app: d.app, type: 'LONG_RUNNING', execDisabled: false, connectedSince: 0, remoteAddress: '', tokenId: 'T' }, sink);
    return sink;
  };
  return { appConfig, deployment, register, held, registry };
}

const set = (name: string) => [{ name, kind: 'static' as const, value: Buffer.from('1') }];

describe('config pushes on an asynchronous store', () => {
  it('a first config read before a change, answered after its push, is not sent over it', async () => {
    const { appConfig, deployment, register, held } = await setup();
    const sink = register('I1');
    const release = held.hold();
    const first = appConfig.sendConfig(deployment, sink); // reads now (no A yet), answers later
    await tick();
    held.stopHolding();
    expect(await appConfig.change('web', set('A'), [])).toBe(1);
    release();
    await first;
    expect(sink.got).toEqual([['A']]);
  });

  it('an instance that registers while a change is being made gets the change', async () => {
    const { appConfig, deployment, register, held } = await setup();
    const release = held.hold();
    const change = appConfig.change('web', set('B'), []); // no instance yet; its checks' reads are held
    await tick();
    held.stopHolding();
    const late = register('I2');
    await appConfig.sendConfig(deployment, late); // read before the change is written
    expect(late.got).toEqual([[]]);
    release();
    expect(await change).toBe(1);
    expect(late.got).toEqual([[], ['B']]);
  });

  it("exec's resend repeats the last config without reading, and has nothing to repeat before the first", async () => {
    const { appConfig, register, held } = await setup();
    const sink = register('I3');
    expect(appConfig.resend(sink)).toBe(false);
    await appConfig.change('web', set('C'), []);
    const release = held.hold();
    expect(appConfig.resend(sink)).toBe(true);
    expect(sink.got).toEqual([['C'], ['C']]);
    release();
  });

  it('a push to a fleet lets the loop turn between its writes, reaches each instance once, and the other replicas hear of it first', async () => {
    const { appConfig, register } = await setup();
    const sinks = Array.from({ length: 1_234 }, (_, i) => register(`F${i}`));
    const told: string[] = [];
    appConfig.onChanged = (app) => told.push(`${app}: ${sinks.filter((s) => s.got.length > 0).length} got it here`);
    const change = appConfig.change('web', set('D'), []);
    // What the loop does between writes (sending them, for node:http2) sees some written, not all.
    const midway = await new Promise<number>((resolve) => {
      const check = () => {
        const written = sinks.filter((s) => s.got.length > 0).length;
        if (written > 0) resolve(written);
        else setImmediate(check);
      };
      setImmediate(check);
    });
    expect(await change).toBe(1_234);
    expect(midway).toBeLessThan(1_234);
    expect(told).toEqual(['web: 0 got it here']);
    expect(sinks.every((s) => s.got.length === 1 && s.got[0][0] === 'D')).toBe(true);
  });
});
