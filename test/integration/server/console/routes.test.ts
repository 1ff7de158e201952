// What the console's read routes give, against what the ctl set up: deployments with labels,
// config by scope with internal values masked and overrides marked, URLs, exec history's
// filters and limits, and 400 for a query the rules refuse.
import { afterEach, describe, expect, it } from 'vitest';
import { api, removeConsoleFixtures, startConsoleServer } from '../../../helpers/console.js';
import { stopServers } from '../../../helpers/server.js';

afterEach(async () => {
  await stopServers();
  removeConsoleFixtures();
});

describe('console read routes', () => {
  it('lists deployments and config as the ctl set them, internal values masked', async () => {
    const server = await startConsoleServer();
    const token = server.operatorToken;
    const { deploymentId } = await server.createDeployment('web', { env: 'prod' });
    expect((await server.ctl(['config', 'set', 'SHARED=g', 'ONLY_GLOBAL=1'])).code).toBe(0);
    expect((await server.ctl(['config', 'set', '--app', 'web', 'SHARED=w'])).code).toBe(0);
    expect((await server.ctl(['config', 'set', '--app', 'web', '--internal', 'DB_PASS=secret'])).code).toBe(0);
    expect((await server.ctl(['config', 'file-signal', '--app', 'web', 'SIGHUP'])).code).toBe(0);
    expect((await server.ctl(['config', 'set', '--app', 'web', '--dynamic', 'vault', 'DYN', 'path=secret/data/db', 'key=/data/password', 'token=hvs.aVarsOwnSecretToken'])).code).toBe(0);

    const deployments = await api(server, 'GET', '/api/v1/deployments?app=web', { token });
    expect(deployments.json.deployments).toEqual([{ id: deploymentId, app: 'web', labels: { env: 'prod' }, createdAt: expect.any(Number) }]);
    expect((await api(server, 'GET', '/api/v1/deployments?app=other', { token })).json.deployments).toEqual([]);
    expect((await api(server, 'GET', '/api/v1/deployments?app=no%20such', { token })).status).toBe(400);

    const config = await api(server, 'GET', '/api/v1/config?app=web', { token });
    expect(config.json.scope).toBe('web');
    expect(config.json.fileChangeSignal).toBe('SIGHUP');
    const vars = (config.json.vars as Array<Record<string, unknown>>).map(({ updatedAt, ...v }) => (expect(updatedAt).toEqual(expect.any(Number)), v));
    expect(vars).toEqual([
      { name: 'DB_PASS', kind: 'internal', value: null, scope: 'web', overridden: false },
      // A dynamic var: its source and settings as `config get` shows them, a secret masked.
      { name: 'DYN', kind: 'static', value: null, dynamic: { from: 'vault', config: { key: '/data/password', path: 'secret/data/db', token: 'hvs.…' } }, scope: 'web', overridden: false },
      { name: 'ONLY_GLOBAL', kind: 'static', value: '1', scope: '', overridden: false },
      { name: 'SHARED', kind: 'static', value: 'w', scope: 'web', overridden: false },
      { name: 'SHARED', kind: 'static', value: 'g', scope: '', overridden: true },
    ]);
    expect(config.text).not.toContain('"secret"'); // DB_PASS's value
    expect(config.text).not.toContain('aVarsOwnSecretToken');
    const global = await api(server, 'GET', '/api/v1/config', { token });
    expect(global.json).toMatchObject({ scope: '', fileChangeSignal: '' });
    expect((global.json.vars as Array<{ name: string }>).map((v) => v.name)).toEqual(['ONLY_GLOBAL', 'SHARED']);
  });

  it('lists URLs as `waypoint-ctl url` does, and the exec history with its filters', async () => {
    const server = await startConsoleServer();
    const token = server.operatorToken;
    const inst = await server.connectInstance('web');
    const urls = await api(server, 'GET', '/api/v1/urls', { token });
    expect(urls.json.urls).toEqual([
      { app: 'web', deploymentId: null, instanceId: null, instances: 0, url: `http://web.localhost:${server.httpPort}/` },
      { app: 'web', deploymentId: inst.deploymentId, instanceId: null, instances: 0, url: `http://web--${inst.deploymentId.toLowerCase()}.localhost:${server.httpPort}/` },
    ]);
    expect((await api(server, 'GET', '/api/v1/urls?app=nope', { token })).status).toBe(404);

    expect((await api(server, 'GET', '/api/v1/exec-history', { token })).json).toEqual({ sessions: [] });
    expect((await api(server, 'GET', '/api/v1/exec-history?limit=-1', { token })).status).toBe(400);
    expect((await api(server, 'GET', '/api/v1/exec-history?limit=ten', { token })).status).toBe(400);
    expect((await api(server, 'GET', `/api/v1/exec-history?app=web&instance=${inst.id}&limit=5`, { token })).status).toBe(200);
  });
});
