// The config vars of a real store (SQLite; PostgreSQL with WAYPOINT_TEST_STORE=postgres): a
// change is all or nothing, values are bytes as given, names come back in byte order, an app
// named by a change or a signal exists from then on; dynamic vars keep their source type, and
// config sources are kept per scope.
import { afterEach, describe, expect, it } from 'vitest';
import { StoreError, type VarChange } from '../../../../src/server/store/store.js';
import { closeTestStores, openTestStore, TEST_STORE } from '../../../helpers/store.js';

afterEach(closeTestStores);

const v = (name: string, value: string | Buffer, kind: VarChange['kind'] = 'static'): VarChange => ({ name, kind, value: Buffer.from(value) });

describe(`ConfigStore (${TEST_STORE})`, () => {
  it('sets and unsets in one change, per scope, names in byte order, bytes as given', async () => {
    const { config } = await openTestStore();
    const bytes = Buffer.from([0, 1, 2, 0xff, 0xfe]);
    await config.apply('', [v('b', 'global'), v('B', 'upper')], []);
    await config.apply('web', [v('b', 'web'), v('/etc/x.conf', bytes, 'file'), v('S', 'secret', 'internal')], []);
    expect((await config.vars('')).map((x) => [x.name, x.value.toString()])).toEqual([['B', 'upper'], ['b', 'global']]);
    const web = await config.vars('web');
    expect(web.map((x) => [x.app, x.name, x.kind])).toEqual([['web', '/etc/x.conf', 'file'], ['web', 'S', 'internal'], ['web', 'b', 'static']]);
    expect(web[0].value.equals(bytes)).toBe(true);
    expect(web[0].updatedAt).toBeGreaterThan(0);
    await config.apply('web', [v('S', 'again', 'static')], ['b']);
    expect((await config.vars('web')).map((x) => [x.name, x.kind, x.value.toString()])).toEqual([['/etc/x.conf', 'file', bytes.toString()], ['S', 'static', 'again']]);
  });

  it('a change that unsets a name not set changes nothing, and says which name', async () => {
    const { config } = await openTestStore();
    await config.apply('web', [v('A', '1'), v('B', '2')], []);
    const failed = config.apply('web', [v('C', '3')], ['A', 'NOPE', 'B']);
    await expect(failed).rejects.toThrow(StoreError);
    await expect(failed).rejects.toThrow('"NOPE" is not set for app web: nothing to unset');
    await expect(config.apply('', [], ['G'])).rejects.toThrow('"G" is not set globally: nothing to unset');
    expect((await config.vars('web')).map((x) => x.name)).toEqual(['A', 'B']);
  });

  it('takes thousands of vars in one change', async () => {
    const { config } = await openTestStore();
    const many = Array.from({ length: 5000 }, (_, i) => v(`V${String(i).padStart(5, '0')}`, 'y'.repeat(100)));
    await config.apply('big', many, []);
    expect(await config.vars('big')).toHaveLength(5000);
    await config.apply('big', [], many.slice(0, 4000).map((x) => x.name));
    expect(await config.vars('big')).toHaveLength(1000);
  });

  it('knows the apps a change or a signal named, and their signals', async () => {
    const { config, store } = await openTestStore();
    expect(await config.apps()).toEqual([]);
    await config.apply('web', [v('A', '1')], []);
    await config.setFileChangeSignal('api', 'SIGHUP');
    await store.createDeployment('Shop', {});
    expect(await config.apps()).toEqual(['Shop', 'api', 'web']);
    expect(await config.appExists('api')).toBe(true);
    expect(await config.appExists('nope')).toBe(false);
    expect(await config.fileChangeSignal('api')).toBe('SIGHUP');
    expect(await config.fileChangeSignal('web')).toBe('');
    expect(await config.fileChangeSignal('nope')).toBe('');
    await config.setFileChangeSignal('api', '');
    expect(await config.fileChangeSignal('api')).toBe('');
  });

  it('keeps a dynamic var\'s source type, and clears it when the var becomes static', async () => {
    const { config } = await openTestStore();
    await config.apply('web', [{ ...v('DB', '{"path":"secret/data/db"}'), dynamicFrom: 'vault' }, v('PLAIN', 'p')], []);
    expect((await config.vars('web')).map((x) => [x.name, x.dynamicFrom ?? null, x.value.toString()])).toEqual([
      ['DB', 'vault', '{"path":"secret/data/db"}'],
      ['PLAIN', null, 'p'],
    ]);
    await config.apply('web', [v('DB', 'static now')], []);
    expect((await config.vars('web'))[0]).not.toHaveProperty('dynamicFrom');
  });

  it('keeps config sources per scope: set replaces, unset says whether there was one, an app named exists', async () => {
    const { config } = await openTestStore();
    await config.setSource('', 'vault', { addr: 'https://global', token: 't1' });
    await config.setSource('web', 'vault', { addr: 'https://web' });
    await config.setSource('web', 'consul', { address: 'c:8500' });
    await config.setSource('web', 'vault', { addr: 'https://web2' });
    expect((await config.sources('')).map((x) => [x.app, x.type, x.settings])).toEqual([['', 'vault', { addr: 'https://global', token: 't1' }]]);
    const web = await config.sources('web');
    expect(web.map((x) => [x.type, x.settings])).toEqual([
      ['consul', { address: 'c:8500' }],
      ['vault', { addr: 'https://web2' }],
    ]);
    expect(web[0].updatedAt).toBeGreaterThan(0);
    expect(await config.appExists('web')).toBe(true);
    expect(await config.unsetSource('web', 'consul')).toBe(true);
    expect(await config.unsetSource('web', 'consul')).toBe(false);
    expect((await config.sources('web')).map((x) => x.type)).toEqual(['vault']);
  });
});
