// The consul source against a loopback Consul written from its HTTP API docs (no Consul can
// be installed here): KV reads, blocking queries that trigger a refresh, ACLs, TLS and faults.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DynamicResult, DynamicSource } from '../../../src/config/dynamic/source.js';
import { create } from '../../../src/config/dynamic/sources/consul.js';
import { FakeConsul } from '../../helpers/fake-consul.js';
import { waitFor } from '../../helpers/run.js';
import { readAll, req, testContext, value } from '../../helpers/source-context.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';

let ca: TestCa;
const sources: DynamicSource[] = [];
const fakes: FakeConsul[] = [];

beforeAll(() => {
  ca = makeTestCa();
});
afterAll(() => ca.cleanup());
afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  for (const f of fakes.splice(0)) await f.close();
});

async function fakeConsul(tls = false): Promise<FakeConsul> {
  const fake = new FakeConsul(tls ? { cert: ca.pem(ca.serverCert), key: ca.pem(ca.serverKey) } : undefined);
  fakes.push(await fake.start());
  fake.put('app/db/password', 'c0nsul-pw');
  fake.put('app/port', '8080');
  fake.put('app/empty', null);
  return fake;
}

function source(settings: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const ctx = testContext(env);
  const s = create({ wait: '1s', ...settings }, ctx);
  sources.push(s);
  return { s, ctx };
}

const one = async (s: DynamicSource, config: Record<string, string> = { key: 'app/port' }): Promise<DynamicResult> => (await readAll(s, [req('V', config)]))[0];

describe('consul source', () => {
  it('reads keys (CONSUL_HTTP_ADDR, CONSUL_HTTP_TOKEN), one query per key, and a missing key is not-found', async () => {
    const fake = await fakeConsul();
    fake.aclToken = 'acl-token';
    const { s, ctx } = source({}, { CONSUL_HTTP_ADDR: `127.0.0.1:${fake.port}`, CONSUL_HTTP_TOKEN: 'acl-token' });
    const results = await readAll(s, [
      req('PW', { key: 'app/db/password' }),
      req('PW2', { key: '/app/db/password' }),
      req('PORT', { key: 'app/port' }),
      req('EMPTY', { key: 'app/empty' }),
    ]);
    expect(results.map(value)).toEqual(['c0nsul-pw', 'c0nsul-pw', '8080', '']);
    expect(fake.requests.filter((r) => r.path === '/v1/kv/app/db/password' && !r.query.has('index'))).toHaveLength(1);
    expect(await one(s, { key: 'app/nothing' })).toMatchObject({ ok: false, failure: 'not-found', message: 'Consul has no key app/nothing' });
    expect(ctx.logText()).not.toContain('c0nsul-pw');
  });

  it('passes datacenter, namespace, partition and stale on, and names them in messages', async () => {
    const fake = await fakeConsul();
    fake.datacenters.push('dc2');
    fake.put('cfg', 'in-team', { ns: 'team', partition: 'part', dc: 'dc2' });
    const { s } = source({ address: fake.url, namespace: 'team', partition: 'part' });
    expect(value(await one(s, { key: 'cfg', datacenter: 'dc2' }))).toBe('in-team');
    const q = fake.requests[0].query;
    expect([q.get('dc'), q.get('ns'), q.get('partition'), q.has('stale')]).toEqual(['dc2', 'team', 'part', true]);
    expect(await one(s, { key: 'cfg', datacenter: 'dc9', allow_stale: 'false' })).toMatchObject({
      ok: false,
      failure: 'transient',
      message: 'Consul could not answer for cfg (datacenter dc9, partition part, namespace team) (500: No path to datacenter)',
    });
    expect(fake.requests.at(-1)!.query.has('stale')).toBe(false);
  });

  it('a blocking query on the key asks for a refresh when the value changes, and only then', async () => {
    const fake = await fakeConsul();
    const { s, ctx } = source({ address: fake.url });
    expect(value(await one(s))).toBe('8080');
    await waitFor(() => fake.requests.some((r) => r.query.get('index') !== null), { what: () => 'a blocking query' });
    const blocking = fake.requests.find((r) => r.query.has('index'))!;
    // the index is the X-Consul-Index of the first answer: app/port's ModifyIndex (the second write)
    expect([blocking.query.get('wait'), blocking.query.get('index')]).toEqual(['1s', '3']);
    // the waits run out (1 s) with nothing changed: no refresh
    await waitFor(() => fake.requests.filter((r) => r.query.has('index')).length >= 3, { timeoutMs: 5000, what: () => 'three blocking queries' });
    expect(ctx.refreshes).toBe(0);
    fake.put('app/port', '9090');
    await waitFor(() => ctx.refreshes === 1, { timeoutMs: 3000, what: () => 'a refresh after the change' });
    const gets = fake.requests.length;
    expect(value(await one(s))).toBe('9090');
    expect(fake.requests.length).toBe(gets); // the read returned what the watch holds
    fake.delete('app/port');
    await waitFor(() => ctx.refreshes === 2, { timeoutMs: 3000, what: () => 'a refresh after the delete' });
    expect(await one(s)).toMatchObject({ ok: false, failure: 'not-found' });
  });

  it('an index that goes backwards resets the watch to a plain read', async () => {
    const fake = await fakeConsul();
    const { s } = source({ address: fake.url, wait: '5s' });
    expect(value(await one(s))).toBe('8080');
    await waitFor(() => fake.blocked === 1, { what: () => 'a blocking query' });
    const before = fake.requests.length;
    fake.lowerIndex('app/port', 1);
    await waitFor(() => fake.requests.length >= before + 1 && fake.blocked === 1, { what: () => 'the watch to go on' });
    expect(fake.requests[before].query.has('index')).toBe(false);
  });

  it('blocks on index 1 when Consul answers index 0, instead of spinning', async () => {
    const fake = await fakeConsul();
    fake.zeroIndex = true;
    const { s } = source({ address: fake.url, wait: '5s' });
    expect(value(await one(s))).toBe('8080');
    await waitFor(() => fake.blocked === 1, { what: () => 'a blocking query' });
    expect(fake.requests.at(-1)!.query.get('index')).toBe('1');
    expect(fake.requests).toHaveLength(2);
  });

  it('stops watching a key no variable asks for, and everything on close', async () => {
    const fake = await fakeConsul();
    const { s } = source({ address: fake.url, wait: '5s' });
    await readAll(s, [req('A', { key: 'app/port' }), req('B', { key: 'app/db/password' })]);
    await waitFor(() => fake.blocked === 2, { what: () => 'two blocking queries' });
    await readAll(s, [req('A', { key: 'app/port' })]);
    await waitFor(() => fake.blocked === 1, { what: () => 'one blocking query' });
    s.close();
    await waitFor(() => fake.blocked === 0, { what: () => 'no blocking query' });
  });

  it('a wrong token is denied with Consul\'s answer', async () => {
    const fake = await fakeConsul();
    fake.aclToken = 'right';
    const { s } = source({ address: fake.url, token: 'wrong-token' });
    const r = await one(s);
    expect(r).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('(403: ACL not found)') });
    expect(JSON.stringify(r)).not.toContain('wrong-token');
  });

  it('reads the token from token_file at each query, and sends http_auth as basic auth', async () => {
    const fake = await fakeConsul();
    fake.aclToken = 'first';
    const file = path.join(ca.dir, 'consul-token');
    writeFileSync(file, 'first\n');
    const { s } = source({ address: fake.url, token_file: file, http_auth: 'user:pass' });
    expect(value(await one(s, { key: 'app/db/password' }))).toBe('c0nsul-pw');
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Basic ${Buffer.from('user:pass').toString('base64')}`);
    fake.aclToken = 'second';
    writeFileSync(file, 'second\n');
    expect(value(await one(s, { key: 'app/port' }))).toBe('8080');
    expect(fake.requests.at(-1)!.headers['x-consul-token']).toBe('second');
  });

  it('trusts the custom CA of CONSUL_CACERT over https, and refuses without it', async () => {
    const fake = await fakeConsul(true);
    expect(value(await one(source({}, { CONSUL_HTTP_ADDR: fake.url, CONSUL_CACERT: ca.caCert }).s))).toBe('8080');
    expect(value(await one(source({ address: `127.0.0.1:${fake.port}`, scheme: 'https', ca_file: ca.caCert }).s))).toBe('8080');
    expect(await one(source({ address: fake.url }).s)).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('set ca_file (CONSUL_CACERT)') });
    expect(value(await one(source({}, { CONSUL_HTTP_ADDR: fake.url, CONSUL_HTTP_SSL_VERIFY: 'false' }).s))).toBe('8080');
  });

  it('reports the backend down as transient while the watch retries, then the value again', async () => {
    const fake = await fakeConsul();
    const { s, ctx } = source({ address: fake.url });
    expect(value(await one(s))).toBe('8080');
    await fake.down();
    await waitFor(async () => !(await one(s)).ok, { what: () => 'the failure to show' });
    expect(await one(s)).toMatchObject({ failure: 'transient', message: expect.stringContaining('refused the connection') });
    await fake.up();
    await waitFor(async () => (await one(s)).ok, { timeoutMs: 8000, what: () => 'the value back' });
    expect(ctx.refreshes).toBe(0); // the same value as before: nothing to refresh
  });

  it('a slow first answer times out; a flapping backend gives values and transient failures', async () => {
    const fake = await fakeConsul();
    fake.delayMs = 2000;
    expect(await one(source({ address: fake.url, timeout: '300ms' }).s)).toMatchObject({ ok: false, failure: 'transient', message: expect.stringContaining('did not answer within 0.3 s') });
    fake.delayMs = 0;
    fake.flapping = true;
    const kinds = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await one(source({ address: fake.url }).s);
      kinds.add(r.ok ? r.value : r.failure);
    }
    expect(kinds).toEqual(new Set(['8080', 'transient']));
  });
});
