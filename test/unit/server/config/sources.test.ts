// Config sources and dynamic vars on the server (issue 15), on a real SQLite store: sources per
// scope, sent only to an app with a dynamic var and ordered global -> app with Waypoint's scope
// and a hash that follows the settings; a source change pushes only where it matters; secrets
// masked on the way out and never in an audit line; the rules of a dynamic var.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EntrypointConfigResponse } from '../../../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { isSecretKey, maskSecret, maskSettings } from '../../../../src/rules/dynamic.js';
import { AppConfig } from '../../../../src/server/config/app-config.js';
import { sourceHash } from '../../../../src/server/config/message.js';
import { InstanceRegistry } from '../../../../src/server/instances/registry.js';
import type { ServerLog } from '../../../../src/server/log.js';
import { RpcError } from '../../../../src/server/rpc/status.js';
import { SqliteConfigStore } from '../../../../src/server/store/sqlite/config-vars.js';
import { type Db, openDb, SCHEMA_VERSION } from '../../../../src/server/store/sqlite/db.js';
import { SqliteStore } from '../../../../src/server/store/sqlite/store.js';

let dir: string;
let db: Db;
let config: AppConfig;
let store: SqliteStore;
let registry: InstanceRegistry;
const logged: Array<[string, Record<string, unknown>]> = [];
const log: ServerLog = {
  debug: (m: string, f: Record<string, unknown> = {}) => logged.push([m, f]),
  info: (m: string, f: Record<string, unknown> = {}) => logged.push([m, f]),
  warn: (m: string, f: Record<string, unknown> = {}) => logged.push([m, f]),
  error: (m: string, f: Record<string, unknown> = {}) => logged.push([m, f]),
} as ServerLog;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-sources-'));
  db = openDb(path.join(dir, 'state.db'));
  store = new SqliteStore(db);
  registry = new InstanceRegistry();
  config = new AppConfig(store, new SqliteConfigStore(db), registry, log);
  logged.length = 0;
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

const dynamicVar = (name: string, from: string, cfg: Record<string, string>, kind: 'static' | 'internal' | 'file' = 'static') => ({
  name,
  kind,
  value: Buffer.from(JSON.stringify(cfg)),
  dynamicFrom: from,
});

/** A live instance of `app` recording what it is pushed. */
async function live(app: string): Promise<EntrypointConfigResponse[]> {
  const deployment = await store.createDeployment(app, {});
  const pushed: EntrypointConfigResponse[] = [];
  const sink = { send: (m: EntrypointConfigResponse) => pushed.push(m), close: () => {} };
  registry.add(
    { id: `01INSTANCE${app.toUpperCase().padEnd(16, 'X')}`, deploymentId: deployment.id, app, type: 'LONG_RUNNING', execDisabled: false, connectedSince: 0, remoteAddress: '', tokenId: 't' },
    sink,
  );
  // As the server does: its first config at once (what a later push is compared with).
  await config.sendConfig(deployment, sink);
  pushed.length = 0;
  return pushed;
}

describe('config sources', () => {
  it('the schema has them (migration 5)', () => {
    expect(SCHEMA_VERSION).toBeGreaterThanOrEqual(5);
  });

  it('are sent only to an app with a dynamic var, global then app, with their scope and a hash', async () => {
    await config.setSource('', 'vault', { addr: 'https://global' });
    await config.setSource('web', 'vault', { addr: 'https://web', token: 'hvs.0123456789abcdef' });
    const deployment = await store.createDeployment('web', {});
    expect((await config.messageFor(deployment)).config?.config_sources).toBeUndefined();
    await config.change('web', [dynamicVar('DB', 'vault', { path: 'secret/data/db', key: '/data/password' })], []);
    const message = (await config.messageFor(deployment)).config!;
    expect(message.env_vars).toEqual([{ name: 'DB', dynamic: { from: 'vault', config: { path: 'secret/data/db', key: '/data/password' } }, internal: false, name_is_path: false }]);
    expect(message.config_sources).toEqual([
      { type: 'vault', config: { addr: 'https://global' }, hash: sourceHash({ type: 'vault', settings: { addr: 'https://global' } }), global: {} },
      {
        type: 'vault',
        config: { addr: 'https://web', token: 'hvs.0123456789abcdef' },
        hash: sourceHash({ type: 'vault', settings: { addr: 'https://web', token: 'hvs.0123456789abcdef' } }),
        application: { application: 'web', project: 'web' },
      },
    ]);
    // The hash follows the settings, not their order.
    expect(sourceHash({ type: 'vault', settings: { a: '1', b: '2' } })).toBe(sourceHash({ type: 'vault', settings: { b: '2', a: '1' } }));
    expect(sourceHash({ type: 'vault', settings: { a: '1' } })).not.toBe(sourceHash({ type: 'vault', settings: { a: '2' } }));
  });

  it('a source change pushes only to the apps with a dynamic var', async () => {
    const web = await live('web');
    const api = await live('api');
    await config.change('web', [dynamicVar('DB', 'null', { static_value: 'x' })], []);
    web.length = 0;
    expect(await config.setSource('', 'null', { 'values.a': '1' })).toBe(1);
    expect(web).toHaveLength(1);
    expect(api).toHaveLength(0);
    expect(await config.unsetSource('', 'null')).toBe(1);
    await expect(config.unsetSource('', 'null')).rejects.toThrow('no null source is set globally: nothing to unset');
  });

  it('the view masks secrets, marks overridden globals; the audit line names keys, never values', async () => {
    await config.setSource('', 'vault', { addr: 'https://g', token: 'hvs.globalsecretvalue' });
    await config.setSource('web', 'vault', { addr: 'https://w', secret_id: 'abcdefghijklmnopq' });
    const view = await config.sourcesView('web');
    expect(view.map((s) => [s.app, s.type, s.settings, s.overridden])).toEqual([
      ['web', 'vault', { addr: 'https://w', secret_id: 'abcd…' }, false],
      ['', 'vault', { addr: 'https://g', token: 'hvs.…' }, true],
    ]);
    expect(JSON.stringify(logged)).not.toContain('globalsecretvalue');
    expect(JSON.stringify(logged)).not.toContain('efghijklmnopq');
    expect(logged.find(([m]) => m === 'config source set')?.[1]).toMatchObject({ event: 'config.source.set', type: 'vault', keys: ['addr', 'token'] });
  });

  it('refuses an unknown type, a dynamic var without settings or with a bad name', async () => {
    await expect(config.setSource('', 'etcd', { a: '1' })).rejects.toThrow(/unknown config source type "etcd"/);
    const refused = async (change: Promise<unknown>) => {
      const err = await change.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RpcError);
      return (err as Error).message;
    };
    expect(await refused(config.change('web', [dynamicVar('DB', 'vault', {})], []))).toContain('dynamic var DB needs its config');
    expect(await refused(config.change('web', [dynamicVar('1BAD', 'vault', { path: 'x' })], []))).toContain('invalid env var name');
    expect(await refused(config.change('web', [dynamicVar('DB', 'nope', { path: 'x' })], []))).toContain('unknown config source type "nope"');
    // Internal and file vars may be dynamic.
    await config.change('web', [dynamicVar('PASS', 'null', { static_value: 'x' }, 'internal'), dynamicVar('conf/x.pem', 'null', { static_value: 'y' }, 'file')], []);
    expect((await config.view('web')).vars.map((v) => [v.name, v.kind, v.dynamicFrom])).toEqual([
      ['PASS', 'internal', 'null'],
      ['conf/x.pem', 'file', 'null'],
    ]);
  });
});

describe('masking', () => {
  it.each([
    ['token', true],
    ['VAULT_TOKEN', true],
    ['secret_id', true],
    ['password', true],
    ['aws_secret_access_key', true],
    ['session_token', true],
    ['http_auth', true],
    ['CONSUL_HTTP_AUTH', true],
    ['addr', false],
    ['auth_method', false],
    ['auth_method_mount_path', false],
    ['role_id', false],
    ['namespace', false],
  ])('%s is a secret: %s', (key, secret) => {
    expect(isSecretKey(key)).toBe(secret);
  });

  it('shows the first 4 characters of a long secret, nothing of a short one', () => {
    expect(maskSecret('s.abcdefghijklmnop')).toBe('s.ab…');
    expect(maskSecret('hvs.CAESIabc')).toBe('hvs.…');
    expect(maskSecret('short')).toBe('…');
    expect(maskSettings({ token: 'hvs.0123456789', addr: 'https://v' })).toEqual({ token: 'hvs.…', addr: 'https://v' });
  });
});
