// The vault source against a loopback Vault written from Vault's HTTP API docs (no Vault can
// be installed here): KV v1/v2, the three auth methods, TLS with a test CA, faults, and the
// renewals of tokens and leases with TTLs of seconds.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SourceSettingsError, type DynamicSource } from '../../../src/config/dynamic/source.js';
import { create } from '../../../src/config/dynamic/sources/vault.js';
import { FakeVault } from '../../helpers/fake-vault.js';
import { waitFor } from '../../helpers/run.js';
import { readAll, req, testContext, value } from '../../helpers/source-context.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';

let ca: TestCa;
const sources: DynamicSource[] = [];
const fakes: FakeVault[] = [];

beforeAll(() => {
  ca = makeTestCa();
});
afterAll(() => ca.cleanup());
afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  for (const f of fakes.splice(0)) await f.close();
});

async function fakeVault(tls = false): Promise<FakeVault> {
  const fake = new FakeVault(tls ? { cert: ca.pem(ca.serverCert), key: ca.pem(ca.serverKey) } : undefined);
  fakes.push(await fake.start());
  fake.addToken('root-token');
  fake.kv1.set('app', { user: 'app', port: 5432 });
  fake.kv2.set('db', { password: 's3cret-pw', nested: { 'a/b': 'slash', list: ['x', 'y'] } });
  return fake;
}

function source(settings: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const ctx = testContext(env);
  const s = create(settings, ctx);
  sources.push(s);
  return { s, ctx };
}

describe('vault source: reading', () => {
  it('reads KV v1 and KV v2 through RFC 6901 pointers, one read per path per round', async () => {
    const fake = await fakeVault();
    const { s, ctx } = source({ addr: fake.url, token: 'root-token' });
    const results = await readAll(s, [
      req('USER', { path: 'kv/app', key: 'user' }),
      req('PORT', { path: 'kv/app', key: '/port' }),
      req('PW', { path: 'secret/data/db', key: '/data/password' }),
      req('SLASH', { path: 'secret/data/db', key: '/data/nested/a~1b' }),
      req('LIST', { path: 'secret/data/db', key: '/data/nested/list/1' }),
      req('OBJ', { path: 'secret/data/db', key: '/data/nested/list' }),
    ]);
    expect(results.map(value)).toEqual(['app', '5432', 's3cret-pw', 'slash', 'y', '["x","y"]']);
    expect(fake.count('GET', '/v1/kv/app')).toBe(1);
    expect(fake.count('GET', '/v1/secret/data/db')).toBe(1);
    expect(ctx.logText()).not.toContain('s3cret-pw');
  });

  it('answers not-found for a missing path or key, and names a KV v2 path without data/', async () => {
    const fake = await fakeVault();
    const { s } = source({ addr: fake.url, token: 'root-token' });
    const [path, key, v2] = await readAll(s, [
      req('A', { path: 'kv/nothing', key: 'x' }),
      req('B', { path: 'secret/data/db', key: '/data/passwrd' }),
      req('C', { path: 'secret/db', key: '/data/password' }),
    ]);
    expect(path).toMatchObject({ ok: false, failure: 'not-found', message: expect.stringContaining('no secret at kv/nothing (404)') });
    expect(key).toMatchObject({ ok: false, failure: 'not-found', message: expect.stringContaining('has no /data/passwrd') });
    expect(v2).toMatchObject({ ok: false, failure: 'not-found', message: expect.stringContaining('versioned K/V') });
  });

  it('refuses a variable without path or key, and a malformed pointer, as invalid', async () => {
    const fake = await fakeVault();
    const { s } = source({ addr: fake.url, token: 'root-token' });
    const results = await readAll(s, [req('A', { key: 'x' }), req('B', { path: 'kv/app' }), req('C', { path: 'kv/app', key: '/a~2' })]);
    expect(results.map((r) => !r.ok && r.failure)).toEqual(['invalid', 'invalid', 'invalid']);
    expect(fake.requests).toHaveLength(0);
  });

  it('a wrong token is denied, with Vault\'s answer and without the token', async () => {
    const fake = await fakeVault();
    const { s } = source({ addr: fake.url, token: 'wrong-token-value' });
    const [r] = await readAll(s, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('(403: permission denied)') });
    expect(JSON.stringify(r)).not.toContain('wrong-token-value');
  });

  it('takes the address, token and namespace from VAULT_* when the settings leave them out', async () => {
    const fake = await fakeVault();
    fake.namespace = 'team-a/';
    const { s } = source({}, { VAULT_ADDR: fake.url, VAULT_TOKEN: 'root-token', VAULT_NAMESPACE: 'team-a/' });
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    expect(fake.requests.at(-1)!.headers['x-vault-namespace']).toBe('team-a/');
  });

  it('refuses settings it cannot use', () => {
    expect(() => create({ addr: 'http://127.0.0.1:1' }, testContext())).toThrow(SourceSettingsError);
    expect(() => create({ addr: 'http://127.0.0.1:1', token: 't', ca_cert: '/nonexistent/ca.pem' }, testContext())).toThrow(/cannot read ca_cert/);
    expect(() => create({ token: 't', auth_method: 'aws' }, testContext())).toThrow(/not supported here/);
    expect(() => create({ auth_method: 'approle', approle_role_id: 'r' }, testContext())).toThrow(/approle_secret_id/);
  });
});

describe('vault source: TLS', () => {
  it('trusts the custom CA given by ca_cert (or VAULT_CACERT) and refuses without it', async () => {
    const fake = await fakeVault(true);
    const ok = source({ addr: fake.url, token: 'root-token', ca_cert: ca.caCert }).s;
    expect((await readAll(ok, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    const viaEnv = source({ token: 'root-token' }, { VAULT_ADDR: fake.url, VAULT_CACERT: ca.caCert }).s;
    expect((await readAll(viaEnv, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    for (const settings of [{}, { ca_cert: ca.otherCaCert }] as Record<string, string>[]) {
      const refused = source({ addr: fake.url, token: 'root-token', ...settings }).s;
      const [r] = await readAll(refused, [req('A', { path: 'kv/app', key: 'user' })]);
      expect(r).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('set ca_cert (VAULT_CACERT) to its CA') });
    }
    const skip = source({ addr: fake.url, token: 'root-token', skip_verify: 'true' }).s;
    expect((await readAll(skip, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
  });

  it('checks the certificate against tls_server_name, and presents a client certificate', async () => {
    const fake = new FakeVault({ cert: ca.pem(ca.serverCert), key: ca.pem(ca.serverKey), clientCa: ca.pem(ca.caCert) });
    fakes.push(await fake.start());
    fake.addToken('root-token');
    fake.kv1.set('app', { user: 'app' });
    const base = { addr: fake.url, token: 'root-token', ca_path: path.dirname(ca.caCert) };
    const named = source({ ...base, tls_server_name: 'backend.test', client_cert: ca.clientCert, client_key: ca.clientKey }).s;
    expect((await readAll(named, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    expect(fake.requests.at(-1)!.clientCn).toBe('client');
    const wrongName = source({ ...base, tls_server_name: 'other.test', client_cert: ca.clientCert, client_key: ca.clientKey }).s;
    const [r] = await readAll(wrongName, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('another name') });
    const noClient = source(base).s;
    const [r2] = await readAll(noClient, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r2).toMatchObject({ ok: false });
  });
});

describe('vault source: faults', () => {
  it('a backend that is down is transient, and reads work again when it is back', async () => {
    const fake = await fakeVault();
    const { s } = source({ addr: fake.url, token: 'root-token' });
    await fake.down();
    const [r] = await readAll(s, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r).toMatchObject({ ok: false, failure: 'transient', message: expect.stringContaining('refused the connection') });
    await fake.up();
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
  });

  it('a slow backend times out (setting timeout) as transient, and an aborted read resolves', async () => {
    const fake = await fakeVault();
    fake.delayMs = 2000;
    const { s } = source({ addr: fake.url, token: 'root-token', timeout: '300ms' });
    const [r] = await readAll(s, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r).toMatchObject({ ok: false, failure: 'transient', message: expect.stringContaining('did not answer within 0.3 s') });
    const abort = new AbortController();
    const pending = s.read([req('A', { path: 'kv/app', key: 'user' })], abort.signal);
    abort.abort();
    expect(await pending).toMatchObject([{ ok: false, failure: 'transient', message: expect.stringContaining('cancelled') }]);
  });

  it('a flapping backend gives values and transient failures, never a not-found', async () => {
    const fake = await fakeVault();
    fake.flapping = true;
    const { s } = source({ addr: fake.url, token: 'root-token' });
    const kinds = [];
    for (let i = 0; i < 5; i++) {
      const [r] = await readAll(s, [req('A', { path: 'kv/app', key: 'user' })]);
      kinds.push(r.ok ? r.value : r.failure);
    }
    // every other answer is a 503 (the token's lookup-self takes one of them too)
    expect(new Set(kinds)).toEqual(new Set(['app', 'transient']));
  });
});

describe('vault source: auth methods and renewal', () => {
  it('renews a renewable static token with renew-self before it expires', async () => {
    const fake = await fakeVault();
    fake.addToken('short-token', { ttl: 2, maxTtl: 60 });
    const { s } = source({ addr: fake.url, token: 'short-token' });
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    await waitFor(() => fake.count('POST', '/v1/auth/token/renew-self') >= 2, { timeoutMs: 5000, what: () => 'two renewals' });
    // past the first TTL: the token lives on
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
  });

  it('logs in with AppRole, and logs in again before a token that cannot be renewed ends', async () => {
    const fake = await fakeVault();
    fake.approle = { roleId: 'role-1', secretId: 'secret-id-value', token: { ttl: 2, renewable: false } };
    const { s, ctx } = source({ addr: fake.url, auth_method: 'approle', approle_role_id: 'role-1', approle_secret_id: 'secret-id-value' });
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    await waitFor(() => fake.count('POST', '/v1/auth/approle/login') >= 2, { timeoutMs: 5000, what: () => 'a second login' });
    await new Promise((r) => setTimeout(r, 600)); // past the first token's end
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    expect(ctx.logText()).not.toContain('secret-id-value');
  });

  it('renews a login token with renew-self until its max TTL is near, then logs in again', async () => {
    const fake = await fakeVault();
    fake.approle = { roleId: 'role-1', secretId: 'sid', token: { ttl: 2, maxTtl: 3, renewable: true } };
    const { s } = source({ addr: fake.url, auth_method: 'approle', approle_role_id: 'role-1', approle_secret_id: 'sid' });
    const t0 = Date.now();
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    const first = fake.requests.at(-1)!.headers['x-vault-token'];
    await waitFor(() => fake.count('POST', '/v1/auth/approle/login') >= 2, { timeoutMs: 5000, what: () => 'a login after the renewals' });
    expect(fake.count('POST', '/v1/auth/token/renew-self')).toBeGreaterThanOrEqual(1);
    await waitFor(() => Date.now() - t0 > 3300, { timeoutMs: 5000, what: () => "the first token's max TTL to pass" });
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    expect(fake.requests.at(-1)!.headers['x-vault-token']).not.toBe(first);
  });

  it('through a Vault agent (agent_addr) sends no token of its own', async () => {
    const fake = await fakeVault();
    const { s } = source({}, { VAULT_AGENT_ADDR: fake.url });
    const [r] = await readAll(s, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r).toMatchObject({ ok: false, failure: 'denied' });
    expect(fake.requests.at(-1)!.headers['x-vault-token']).toBeUndefined();
  });

  it('an AppRole login refused is denied with Vault\'s answer, without the secret id', async () => {
    const fake = await fakeVault();
    fake.approle = { roleId: 'role-1', secretId: 'right', token: {} };
    const { s } = source({ addr: fake.url, auth_method: 'approle', approle_role_id: 'role-1', approle_secret_id: 'wrong-secret-id' });
    const [r] = await readAll(s, [req('A', { path: 'kv/app', key: 'user' })]);
    expect(r).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('(400: invalid role or secret ID)') });
    expect(JSON.stringify(r)).not.toContain('wrong-secret-id');
  });

  it('logs in with the Kubernetes service account token, read anew at each login', async () => {
    const fake = await fakeVault();
    const tokenFile = path.join(ca.dir, 'sa-token');
    writeFileSync(tokenFile, 'jwt-one\n');
    fake.kubernetes = { role: 'app', jwt: 'jwt-one', token: { ttl: 60 } };
    const { s } = source({ addr: fake.url, auth_method: 'kubernetes', kubernetes_role: 'app', kubernetes_token_path: tokenFile });
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    // the projected token rotates and Vault revokes our token: the source logs in with the new one
    writeFileSync(tokenFile, 'jwt-two\n');
    fake.kubernetes.jwt = 'jwt-two';
    for (const t of [...fake.tokens.keys()]) if (t.startsWith('hvs.')) fake.revoke(t);
    expect((await readAll(s, [req('A', { path: 'kv/app', key: 'user' })])).map(value)).toEqual(['app']);
    expect(fake.count('POST', '/v1/auth/kubernetes/login')).toBe(2);
    expect(JSON.parse(fake.requests.filter((r) => r.path === '/v1/auth/kubernetes/login').at(-1)!.body)).toEqual({ role: 'app', jwt: 'jwt-two' });
  });

  it('keeps a leased secret and renews its lease, then reads it anew when the max TTL is near', async () => {
    const fake = await fakeVault();
    fake.dbRoles.set('app', { ttl: 2, maxTtl: 5, renewable: true });
    const { s, ctx } = source({ addr: fake.url, token: 'root-token' });
    const read = async () => value((await readAll(s, [req('U', { path: 'database/creds/app', key: 'username' })]))[0]);
    expect(await read()).toBe('v-1');
    await waitFor(() => fake.count('PUT', '/v1/sys/leases/renew') >= 1, { timeoutMs: 4000, what: () => 'a lease renewal' });
    expect(await read()).toBe('v-1'); // renewed, not read again: the same credentials
    expect(fake.count('GET', '/v1/database/creds/app')).toBe(1);
    await waitFor(() => ctx.refreshes >= 1, { timeoutMs: 6000, what: () => 'a refresh as the max TTL nears' });
    expect(await read()).toBe('v-2');
  });

  it('reads a leased secret anew when Vault refuses to renew it', async () => {
    const fake = await fakeVault();
    fake.dbRoles.set('app', { ttl: 2, maxTtl: 60, renewable: true });
    fake.refuseRenewals = true;
    const { s, ctx } = source({ addr: fake.url, token: 'root-token' });
    const read = async () => value((await readAll(s, [req('U', { path: 'database/creds/app', key: 'username' })]))[0]);
    expect(await read()).toBe('v-1');
    await waitFor(() => ctx.refreshes >= 1, { timeoutMs: 4000, what: () => 'a refresh after a refused renewal' });
    expect(ctx.logText()).toContain('Vault refused to renew it (400: lease not found)');
    expect(await read()).toBe('v-2');
  });
});
