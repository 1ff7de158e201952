// The applier with dynamic vars (the real dynamic chunk's code and the null source): the first
// config is settled once its vars are read, a changed value changes the app's env once, a removed
// var leaves it, an internal value interpolates, and the status follows; a static-only config
// never loads the resolver.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AppEnv } from '../../../../src/config/app-env.js';
import { ConfigApplier } from '../../../../src/config/applier.js';
import type { VarStatus } from '../../../../src/config/dynamic/resolver.js';
import type { EntrypointConfig__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { ConfigVar__Output } from '../../../../src/protocol/generated/hashicorp/waypoint/ConfigVar.js';
import { recordingLogger } from '../../../helpers/fake-session.js';
import { waitFor } from '../../../helpers/run.js';

const nullVar = (name: string, config: Record<string, string>, extra: Partial<ConfigVar__Output> = {}): ConfigVar__Output =>
  ({ name, internal: false, name_is_path: false, value: 'dynamic', dynamic: { from: 'null', config }, ...extra }) as ConfigVar__Output;
const stat = (name: string, value: string): ConfigVar__Output => ({ name, internal: false, name_is_path: false, value: 'static', static: value }) as ConfigVar__Output;
const config = (env_vars: ConfigVar__Output[]): EntrypointConfig__Output =>
  ({ env_vars, config_sources: [], exec: [], file_change_signal: '', url_service: null, deployment: null }) as EntrypointConfig__Output;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-applier-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const { logger, records } = recordingLogger();
  const appEnv = new AppEnv({ BASE: 'b' });
  const onEnvChanged = vi.fn();
  const statuses: VarStatus[][] = [];
  const applier = new ConfigApplier({
    appEnv,
    logger,
    cwd: dir,
    disableExec: false,
    defaultLogLevel: 'info',
    onEnvChanged,
    signalApp: () => false,
    onDynamicStatus: (s) => statuses.push(s),
  });
  return { applier, appEnv, onEnvChanged, statuses, records };
}

describe('ConfigApplier with dynamic vars', () => {
  it('settles the first config once its vars are read; a change, then a removal, each change the env once', async () => {
    const t = setup();
    t.applier.apply(config([nullVar('PASS', { static_value: 'p@ss' }, { internal: true }), stat('URL', 'u:${config.internal.PASS}'), nullVar('V', { static_value: 'one' })]));
    await t.applier.settled();
    expect(t.appEnv.current()).toEqual({ BASE: 'b', URL: 'u:p@ss', V: 'one' });
    const changes = t.onEnvChanged.mock.calls.length;

    t.applier.apply(config([nullVar('PASS', { static_value: 'p@ss' }, { internal: true }), stat('URL', 'u:${config.internal.PASS}'), nullVar('V', { static_value: 'two' })]));
    // Until read, the redefined var keeps its value: nothing changed yet.
    expect(t.appEnv.current().V).toBe('one');
    expect(t.onEnvChanged.mock.calls.length).toBe(changes);
    await waitFor(() => t.appEnv.current().V === 'two', { what: () => 'V=two' });
    expect(t.onEnvChanged.mock.calls.length).toBe(changes + 1);

    t.applier.apply(config([stat('URL', 'plain')]));
    expect(t.appEnv.current()).toEqual({ BASE: 'b', URL: 'plain' });
    await waitFor(() => t.statuses.at(-1)?.length === 0, { what: () => 'an empty status' });
    t.applier.close();
  });

  it('a later config with a static change and a new dynamic var changes the env once, with both', async () => {
    const t = setup();
    t.applier.apply(config([stat('A', '1'), nullVar('V', { static_value: 'v' })]));
    await t.applier.settled();
    const changes = t.onEnvChanged.mock.calls.length;
    t.applier.apply(config([stat('A', '2'), nullVar('V', { static_value: 'v' }), nullVar('W', { static_value: 'w' })]));
    expect(t.appEnv.current().A).toBe('1'); // held for W's first read
    await waitFor(() => t.appEnv.current().W === 'w', { what: () => 'W=w' });
    expect(t.appEnv.current()).toMatchObject({ A: '2', V: 'v', W: 'w' });
    expect(t.onEnvChanged.mock.calls.length).toBe(changes + 1);
    // A static change alone is applied at once.
    t.applier.apply(config([stat('A', '3'), nullVar('V', { static_value: 'v' }), nullVar('W', { static_value: 'w' })]));
    expect(t.appEnv.current().A).toBe('3');
    t.applier.close();
  });

  it('a static-only config never loads the resolver and settles at once', async () => {
    const t = setup();
    t.applier.apply(config([stat('A', 'a')]));
    await t.applier.settled();
    expect(t.appEnv.current()).toEqual({ BASE: 'b', A: 'a' });
    expect((t.applier as unknown as { dynamic?: unknown }).dynamic).toBeUndefined();
    expect(t.statuses).toEqual([]);
  });
});
