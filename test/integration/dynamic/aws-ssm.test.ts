// The aws-ssm source against a loopback SSM endpoint (the `endpoint` setting) written from the
// GetParameters API reference. Signing and the credential chain are the AWS SDK's: the fake
// checks that requests carry a SigV4 Authorization header with the expected credential scope,
// not the signature itself (no re-implementation of SigV4 here).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SourceSettingsError, type DynamicSource } from '../../../src/config/dynamic/source.js';
import { create } from '../../../src/config/dynamic/sources/aws-ssm.js';
import { FakeSsm, sigV4Authorization } from '../../helpers/fake-ssm.js';
import { readAll, req, testContext, value } from '../../helpers/source-context.js';
import { makeTestCa, type TestCa } from '../../helpers/test-ca.js';

let ca: TestCa;
let dir: string;
const sources: DynamicSource[] = [];
const fakes: FakeSsm[] = [];
const savedEnv = { ...process.env };

beforeAll(() => {
  ca = makeTestCa();
  dir = mkdtempSync(path.join(os.tmpdir(), 'wpe-ssm-'));
});
afterAll(() => {
  ca.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
// The SDK's credential chain reads this process's environment: each test starts from one
// without AWS settings, no shared files and no instance metadata
beforeEach(() => {
  for (const k of Object.keys(process.env)) if (k.startsWith('AWS_')) delete process.env[k];
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'no-credentials');
  process.env.AWS_CONFIG_FILE = path.join(dir, 'no-config');
});
afterEach(async () => {
  for (const s of sources.splice(0)) s.close();
  for (const f of fakes.splice(0)) await f.close();
  for (const k of Object.keys(process.env)) if (!(k in savedEnv)) delete process.env[k];
  Object.assign(process.env, savedEnv);
});

async function fakeSsm(tls = false): Promise<FakeSsm> {
  const fake = new FakeSsm(tls ? { cert: ca.pem(ca.serverCert), key: ca.pem(ca.serverKey) } : undefined);
  fakes.push(await fake.start());
  fake.keys.set('AKIDSTATIC', { secret: 'static-secret-key', sessionToken: 'session-token-1' });
  fake.put('/app/port', '8080');
  fake.put('/app/db/password', 'ssm-s3cret', 'SecureString');
  fake.put('/app/hosts', 'a,b,c', 'StringList');
  fake.put('/app/color', 'blue');
  fake.put('/app/color', 'green');
  return fake;
}

function source(settings: Record<string, string>, env: NodeJS.ProcessEnv = {}) {
  const ctx = testContext(env);
  const s = create(settings, ctx);
  sources.push(s);
  return { s, ctx };
}

const STATIC = { access_key: 'AKIDSTATIC', secret_key: 'static-secret-key', token: 'session-token-1', region: 'us-east-1' };
const today = () => new Date().toISOString().slice(0, 10).replace(/-/g, '');

describe("the fake's SigV4 check", () => {
  // The signer the fake checks signatures with (the AWS library's) gives AWS's published answers:
  // the SigV4 test suite's get-vanilla, and the IAM ListUsers example of the SigV4 docs.
  const example = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', region: 'us-east-1', amzDate: '20150830T123600Z' };
  it("gives AWS's known answers", async () => {
    expect(
      await sigV4Authorization({ ...example, service: 'service', method: 'GET', host: 'example.amazonaws.com', path: '/', headers: { host: 'example.amazonaws.com', 'x-amz-date': example.amzDate } }),
    ).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31',
    );
    const iam = {
      ...example,
      service: 'iam',
      method: 'GET',
      host: 'iam.amazonaws.com',
      path: '/',
      query: { Action: 'ListUsers', Version: '2010-05-08' },
      headers: { host: 'iam.amazonaws.com', 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', 'x-amz-date': example.amzDate },
    };
    expect(await sigV4Authorization(iam)).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    );
    // and it tells a wrong secret from the right one
    expect(await sigV4Authorization({ ...iam, secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ' })).not.toContain('5d672d79');
  });
});

describe('aws-ssm source', () => {
  it('a request signed with the wrong secret key is refused as SSM refuses it: denied, one line', async () => {
    const fake = await fakeSsm();
    const [r] = await readAll(source({ ...STATIC, secret_key: 'not-the-static-secret-key', endpoint: fake.url }).s, [req('A', { path: '/app/port' })]);
    expect(r).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('InvalidSignatureException: The request signature we calculated does not match') });
    expect((r as { message: string }).message).not.toMatch(/\n|not-the-static-secret-key/);
    expect(fake.verified).toBe(0);
    expect(fake.problems).toEqual([]);
  });

  it('reads String, decrypted SecureString, StringList and a version, signed for the credential scope', async () => {
    const fake = await fakeSsm();
    const { s, ctx } = source({ ...STATIC, endpoint: fake.url });
    const results = await readAll(s, [
      req('PORT', { path: '/app/port' }),
      req('PW', { path: '/app/db/password' }),
      req('HOSTS', { path: '/app/hosts' }),
      req('COLOR', { path: '/app/color' }),
      req('OLD', { path: '/app/color:1' }),
    ]);
    expect(results.map(value)).toEqual(['8080', 'ssm-s3cret', 'a,b,c', 'green', 'blue']);
    expect(fake.problems).toEqual([]);
    expect(fake.signed).toHaveLength(1);
    expect(fake.signed[0]).toMatchObject({ accessKeyId: 'AKIDSTATIC', date: today(), region: 'us-east-1', service: 'ssm', sessionToken: 'session-token-1', withDecryption: true });
    expect(fake.verified).toBe(1); // the signature computed again from the request matched
    expect(ctx.logText()).not.toContain('ssm-s3cret');
  });

  it('asks for at most ten names a call, each name once, and answers in the order of the requests', async () => {
    const fake = await fakeSsm();
    for (let i = 0; i < 23; i++) fake.put(`/many/p${i}`, `v${i}`);
    const { s } = source({ ...STATIC, endpoint: fake.url });
    const names = Array.from({ length: 23 }, (_, i) => `/many/p${22 - i}`);
    const requests = [...names, names[0], names[5]].map((n, i) => req(`V${i}`, { path: n }));
    const results = await readAll(s, requests);
    expect(results.map(value)).toEqual([...names, names[0], names[5]].map((n) => `v${n.slice(7)}`));
    expect(fake.signed.map((r) => r.names.length).sort()).toEqual([10, 10, 3]);
    expect(new Set(fake.signed.flatMap((r) => r.names)).size).toBe(23);
  });

  it('answers not-found for a parameter SSM lists as invalid, and invalid for a variable without path', async () => {
    const fake = await fakeSsm();
    const { s } = source({ ...STATIC, endpoint: fake.url });
    const [missing, version, nopath, ok] = await readAll(s, [req('A', { path: '/app/nothing' }), req('B', { path: '/app/port:7' }), req('C', {}), req('D', { path: '/app/port' })]);
    expect(missing).toMatchObject({ ok: false, failure: 'not-found', message: expect.stringContaining('SSM has no parameter /app/nothing') });
    expect(version).toMatchObject({ ok: false, failure: 'not-found' });
    expect(nopath).toMatchObject({ ok: false, failure: 'invalid' });
    expect(value(ok)).toBe('8080');
  });

  it("takes credentials from the SDK's chain: AWS_ACCESS_KEY_ID… and the region from AWS_REGION", async () => {
    const fake = await fakeSsm();
    fake.region = 'eu-west-3';
    fake.keys.set('AKIDFROMENV', { secret: 'env-secret', sessionToken: 'env-session' });
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'AKIDFROMENV', AWS_SECRET_ACCESS_KEY: 'env-secret', AWS_SESSION_TOKEN: 'env-session' });
    const { s } = source({ endpoint: fake.url }, { AWS_REGION: 'eu-west-3' });
    expect((await readAll(s, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
    expect(fake.signed[0]).toMatchObject({ accessKeyId: 'AKIDFROMENV', region: 'eu-west-3', sessionToken: 'env-session' });
    expect(fake.problems).toEqual([]);
  });

  it("takes a container role's credentials (ECS: AWS_CONTAINER_CREDENTIALS_FULL_URI) through the SDK's chain", async () => {
    const fake = await fakeSsm();
    fake.keys.set('ASIACONTAINER', { secret: 'container-secret', sessionToken: 'container-session' });
    const asked: Array<string | undefined> = [];
    const endpoint = http.createServer((req, res) => {
      asked.push(req.headers.authorization);
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const expiration = new Date(Date.now() + 3600_000).toISOString();
      res.end(JSON.stringify({ AccessKeyId: 'ASIACONTAINER', SecretAccessKey: 'container-secret', Token: 'container-session', Expiration: expiration }));
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    try {
      Object.assign(process.env, {
        AWS_CONTAINER_CREDENTIALS_FULL_URI: `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}/v2/credentials`,
        AWS_CONTAINER_AUTHORIZATION_TOKEN: 'container-auth-token',
      });
      const { s } = source({ endpoint: fake.url, region: 'us-east-1' });
      expect((await readAll(s, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
      expect(asked).toEqual(['container-auth-token']);
      expect(fake.signed[0]).toMatchObject({ accessKeyId: 'ASIACONTAINER', sessionToken: 'container-session' });
      expect(fake.verified).toBe(1);
    } finally {
      await new Promise((resolve) => endpoint.close(resolve));
    }
  });

  it("takes a web identity's role (EKS: AWS_ROLE_ARN, AWS_WEB_IDENTITY_TOKEN_FILE) through the SDK's chain, from STS", async () => {
    const fake = await fakeSsm();
    fake.keys.set('ASIAWEBIDENTITY', { secret: 'web-identity-secret', sessionToken: 'web-identity-session' });
    const tokenFile = path.join(dir, 'web-identity-token');
    writeFileSync(tokenFile, 'projected-sa-token');
    const asked: URLSearchParams[] = [];
    const sts = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c));
      req.on('end', () => {
        asked.push(new URLSearchParams(body));
        res.writeHead(200, { 'Content-Type': 'text/xml' });
        res.end(
          '<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult>' +
            '<Credentials><AccessKeyId>ASIAWEBIDENTITY</AccessKeyId><SecretAccessKey>web-identity-secret</SecretAccessKey>' +
            `<SessionToken>web-identity-session</SessionToken><Expiration>${new Date(Date.now() + 3600_000).toISOString()}</Expiration></Credentials>` +
            '<AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/app/s</Arn><AssumedRoleId>AROAEXAMPLE:s</AssumedRoleId></AssumedRoleUser>' +
            '</AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>',
        );
      });
    });
    await new Promise<void>((resolve) => sts.listen(0, '127.0.0.1', resolve));
    try {
      Object.assign(process.env, {
        AWS_ROLE_ARN: 'arn:aws:iam::123456789012:role/app',
        AWS_WEB_IDENTITY_TOKEN_FILE: tokenFile,
        AWS_ROLE_SESSION_NAME: 's',
        AWS_ENDPOINT_URL_STS: `http://127.0.0.1:${(sts.address() as AddressInfo).port}`,
      });
      const { s } = source({ endpoint: fake.url, region: 'us-east-1' });
      expect((await readAll(s, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
      expect(asked.map((q) => [q.get('Action'), q.get('RoleArn'), q.get('WebIdentityToken')])).toEqual([
        ['AssumeRoleWithWebIdentity', 'arn:aws:iam::123456789012:role/app', 'projected-sa-token'],
      ]);
      expect(fake.signed[0]).toMatchObject({ accessKeyId: 'ASIAWEBIDENTITY', sessionToken: 'web-identity-session' });
      expect(fake.verified).toBe(1);
    } finally {
      await new Promise((resolve) => sts.close(resolve));
    }
  });

  it("takes a profile's keys from the shared credentials file", async () => {
    const fake = await fakeSsm();
    fake.keys.set('AKIDPROFILE', { secret: 'p' });
    writeFileSync(path.join(dir, 'credentials'), '[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = d\n\n[team]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = p\n');
    process.env.AWS_SHARED_CREDENTIALS_FILE = path.join(dir, 'credentials');
    const { s } = source({ endpoint: fake.url, region: 'us-east-1', profile: 'team' });
    expect((await readAll(s, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
    expect(fake.signed[0].accessKeyId).toBe('AKIDPROFILE');
    expect(fake.verified).toBe(1);
  });

  it('reports unknown keys, denied parameters and missing credentials as denied, one line each', async () => {
    const fake = await fakeSsm();
    fake.put('/restricted/key', 'x');
    const [unknown] = await readAll(source({ ...STATIC, access_key: 'AKIDWRONG', endpoint: fake.url }).s, [req('A', { path: '/app/port' })]);
    expect(unknown).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('UnrecognizedClientException: The security token included in the request is invalid.') });
    const [denied] = await readAll(source({ ...STATIC, endpoint: fake.url }).s, [req('A', { path: '/restricted/key' })]);
    expect(denied).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('AccessDeniedException: User: arn:aws:iam::123456789012:user/app is not authorized') });
    const [none] = await readAll(source({ endpoint: fake.url, region: 'us-east-1' }).s, [req('A', { path: '/app/port' })]);
    expect(none).toMatchObject({ ok: false, failure: 'denied', message: expect.stringContaining('give the entrypoint AWS credentials') });
    for (const r of [unknown, denied, none]) {
      expect((r as { message: string }).message).not.toMatch(/\n|static-secret-key/);
    }
  });

  it('trusts the custom CA of ca_file (AWS_CA_BUNDLE) over https, and refuses without it', async () => {
    const fake = await fakeSsm(true);
    expect((await readAll(source({ ...STATIC, endpoint: fake.url, ca_file: ca.caCert }).s, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
    expect((await readAll(source({ ...STATIC, endpoint: fake.url }, { AWS_CA_BUNDLE: ca.caCert }).s, [req('A', { path: '/app/port' })])).map(value)).toEqual(['8080']);
    const [r] = await readAll(source({ ...STATIC, endpoint: fake.url, max_retries: '0' }).s, [req('A', { path: '/app/port' })]);
    expect(r).toMatchObject({ ok: false, failure: 'invalid', message: expect.stringContaining('set ca_file (AWS_CA_BUNDLE)') });
  });

  it('an endpoint that is down or slow is transient; the SDK retries a flapping one', async () => {
    const fake = await fakeSsm();
    const one = async (s: DynamicSource) => (await readAll(s, [req('A', { path: '/app/port' })]))[0];
    const quick = source({ ...STATIC, endpoint: fake.url, timeout: '500ms', max_retries: '0' }).s;
    await fake.down();
    expect(await one(quick)).toMatchObject({ ok: false, failure: 'transient', message: expect.stringContaining('ECONNREFUSED') });
    await fake.up();
    expect(value(await one(quick))).toBe('8080');
    fake.delayMs = 2000;
    expect(await one(quick)).toMatchObject({ ok: false, failure: 'transient', message: 'SSM did not answer within 0.5 s' });
    fake.delayMs = 0;
    fake.flapping = true;
    const kinds = [];
    for (let i = 0; i < 4; i++) {
      const r = await one(quick);
      kinds.push(r.ok ? r.value : r.failure);
    }
    expect(kinds).toEqual(['8080', 'transient', '8080', 'transient']);
    const retrying = source({ ...STATIC, endpoint: fake.url }).s;
    for (let i = 0; i < 3; i++) expect(value(await one(retrying))).toBe('8080');
  });

  it('refuses settings it cannot use', () => {
    expect(() => create({ assume_role_arn: 'arn:aws:iam::1:role/x' }, testContext())).toThrow(SourceSettingsError);
    expect(() => create({ access_key: 'AKID' }, testContext())).toThrow(/both access_key and secret_key/);
    expect(() => create({ ca_file: '/nonexistent' }, testContext())).toThrow(/cannot read ca_file/);
  });
});
