// The kubernetes source against a loopback API server written from the core/v1 API (no
// cluster can run here): in-cluster settings, token rotation, RBAC's 403, TLS and faults.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SourceSettingsError, type DynamicSource } from '../../../src/config/dynamic/source.js';
import { create, serviceAccount } from '../../../src/config/dynamic/sources/kubernetes.js';
import { FakeKubernetes, serviceAccountJwt } from '../../helpers/fake-kubernetes.js';
import { readAll, req, testContext, value } from '../../helpers/source-context.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';

let ca: TestCa;
let dir: string;
const sources: DynamicSource[] = [];
let fake: FakeKubernetes;
const app = { namespace: 'prod', name: 'web' };

beforeAll(() => {
  ca = makeTestCa();
  dir = mkdtempSync(path.join(os.tmpdir(), 'wpe-k8s-'));
});
afterAll(() => {
  ca.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  await fake?.close();
});

async function cluster(): Promise<FakeKubernetes> {
  fake = new FakeKubernetes({ cert: ca.pem(ca.serverCert), key: ca.pem(ca.serverKey) });
  await fake.start();
  const token = serviceAccountJwt(app);
  fake.tokens.set(token, app);
  writeFileSync(path.join(dir, 'token'), token);
  writeFileSync(path.join(dir, 'namespace'), 'prod\n');
  fake.configMaps.set('prod/app-config', { port: '8080', mode: 'fast', 'cert.bin': 'binary-ish' });
  fake.configMaps.set('shared/common', { region: 'eu' });
  fake.secrets.set('prod/db', { password: 'k8s-s3cret' });
  fake.allow(app, 'prod', 'configmaps');
  fake.allow(app, 'prod', 'secrets');
  fake.allow(app, 'shared', 'configmaps');
  return fake;
}

function source(settings: Record<string, string> = {}, port = fake.port) {
  const ctx = testContext({ KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(port) });
  const s = create({ token_path: path.join(dir, 'token'), namespace_path: path.join(dir, 'namespace'), ca_cert: ca.caCert, ...settings }, ctx);
  sources.push(s);
  return { s, ctx };
}

describe('kubernetes source', () => {
  it("reads ConfigMap and Secret keys, in the pod's namespace or another, one read per object per round", async () => {
    await cluster();
    const { s, ctx } = source();
    const results = await readAll(s, [
      req('PORT', { name: 'app-config', key: 'port' }),
      req('MODE', { name: 'app-config', key: 'mode' }),
      req('PW', { name: 'db', key: 'password', secret: 'true' }),
      req('REGION', { name: 'common', key: 'region', namespace: 'shared' }),
      req('BIN', { name: 'app-config', key: 'cert.bin' }),
    ]);
    expect(results.map(value)).toEqual(['8080', 'fast', 'k8s-s3cret', 'eu', 'binary-ish']);
    expect(fake.count('GET', '/api/v1/namespaces/prod/configmaps/app-config')).toBe(1);
    expect(ctx.logText()).not.toContain('k8s-s3cret');
  });

  it('answers not-found for a missing object or key', async () => {
    await cluster();
    const { s } = source();
    const [object, key] = await readAll(s, [req('A', { name: 'nope', key: 'x' }), req('B', { name: 'app-config', key: 'nope' })]);
    expect(object).toMatchObject({ ok: false, failure: 'not-found', message: 'there is no ConfigMap prod/nope (404 NotFound: configmaps "nope" not found)' });
    expect(key).toMatchObject({ ok: false, failure: 'not-found', message: 'ConfigMap prod/app-config has no key "nope"' });
  });

  it('reads the token anew for each request, as projected tokens rotate', async () => {
    await cluster();
    const { s } = source();
    expect((await readAll(s, [req('A', { name: 'app-config', key: 'port' })])).map(value)).toEqual(['8080']);
    // the kubelet rotates the token: the server accepts only the new one
    const rotated = serviceAccountJwt(app, 2);
    fake.tokens.clear();
    fake.tokens.set(rotated, app);
    writeFileSync(path.join(dir, 'token'), rotated);
    expect((await readAll(s, [req('A', { name: 'app-config', key: 'port' })])).map(value)).toEqual(['8080']);
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${rotated}`);
  });

  it('a 403 names the service account, the verb and the resource; a 401 the token file', async () => {
    await cluster();
    const { s } = source();
    const [r] = await readAll(s, [req('A', { name: 'db', key: 'password', secret: 'true', namespace: 'payments' })]);
    expect(r).toMatchObject({ ok: false, failure: 'denied' });
    const message = (r as { message: string }).message;
    expect(message).toContain('the service account prod/web may not get secrets "db" in namespace payments');
    expect(message).toContain('cannot get resource "secrets"');
    expect(message).toContain('grant it get on secrets with a Role and RoleBinding');
    expect(message).not.toContain(serviceAccountJwt(app).split('.')[1]);
    fake.tokens.clear();
    const [r2] = await readAll(s, [req('A', { name: 'app-config', key: 'port' })]);
    expect(r2).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('did not accept the service account token') });
  });

  it('names the account from legacy token claims too', () => {
    const part = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const legacy = `${part({})}.${part({ 'kubernetes.io/serviceaccount/namespace': 'ns', 'kubernetes.io/serviceaccount/service-account.name': 'old' })}.x`;
    expect(serviceAccount(legacy)).toBe('ns/old');
    expect(serviceAccount('not-a-jwt')).toContain('unknown');
  });

  it('refuses the API server without the cluster CA, and without KUBERNETES_SERVICE_HOST', async () => {
    await cluster();
    const [r] = await readAll(source({ ca_cert: ca.otherCaCert }).s, [req('A', { name: 'app-config', key: 'port' })]);
    expect(r).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('does not trust') });
    expect(() => create({}, testContext({}))).toThrow(SourceSettingsError);
    expect(() => create({ ca_cert: '/nonexistent' }, testContext({ KUBERNETES_SERVICE_HOST: '127.0.0.1' }))).toThrow(/cannot read the cluster CA/);
  });

  it('an unreadable token or namespace file is a clear failure', async () => {
    await cluster();
    const { s } = source({ token_path: path.join(dir, 'missing-token'), namespace_path: path.join(dir, 'missing-ns') });
    const [noNs, noToken] = await readAll(s, [req('A', { name: 'app-config', key: 'port' }), req('B', { name: 'c', key: 'k', namespace: 'prod' })]);
    expect(noNs).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('no namespace') });
    expect(noToken).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('cannot read the service account token') });
  });

  it('down, slow and flapping API servers are transient', async () => {
    await cluster();
    const { s } = source({ timeout: '300ms' });
    const one = async () => (await readAll(s, [req('A', { name: 'app-config', key: 'port' })]))[0];
    await fake.down();
    expect(await one()).toMatchObject({ ok: false, failure: 'transient', message: expect.stringContaining('ECONNREFUSED') });
    await fake.up();
    expect(value(await one())).toBe('8080');
    fake.delayMs = 2000;
    expect(await one()).toMatchObject({ ok: false, failure: 'transient', message: expect.stringContaining('did not answer within 0.3 s') });
    fake.delayMs = 0;
    fake.flapping = true;
    const kinds = [];
    for (let i = 0; i < 4; i++) {
      const r = await one();
      kinds.push(r.ok ? r.value : `${r.failure}`);
    }
    expect(kinds).toEqual(['8080', 'transient', '8080', 'transient']);
  });
});
