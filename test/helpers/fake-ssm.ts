// A loopback SSM endpoint, from the API reference of GetParameters (AWS JSON 1.1: POST / with
// X-Amz-Target AmazonSSM.GetParameters). It checks the request's shape and its SigV4 signature
// as SSM does: the signature is computed again from the request received and the secret key the
// fake holds, by the AWS library's own signer (@smithy/signature-v4, the one the SDK signs
// with; no SigV4 of ours), which the tests first check against AWS's published answers
// (sigV4Authorization). It answers as SSM does: Parameters and InvalidParameters, or an error
// with __type and message.
import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import type { FakeAnswer, FakeRequest, FakeTls } from './fake-backend.js';
import { FakeBackend } from './fake-backend.js';

/** The hash the signer asks for (a SHA-256, an HMAC-SHA256 with a secret): node:crypto's. */
class NodeSha256 {
  private readonly hash;
  constructor(secret?: SourceData) {
    this.hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
}

function bytes(data: SourceData): string | Uint8Array {
  if (typeof data === 'string' || data instanceof Uint8Array) return data;
  return ArrayBuffer.isView(data) ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength) : new Uint8Array(data);
}

export interface SigV4Input {
  method: string;
  host: string;
  path: string;
  query?: Record<string, string>;
  /** The headers to sign (lower-case names), host and x-amz-date among them. */
  headers: Record<string, string>;
  body?: string;
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  service: string;
  /** 20150830T123600Z */
  amzDate: string;
}

/** The Authorization header the AWS library's SigV4 signer gives this request. */
export async function sigV4Authorization(input: SigV4Input): Promise<string> {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(input.amzDate);
  if (!m) throw new Error(`not an X-Amz-Date: ${input.amzDate}`);
  const signingDate = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  const signer = new SignatureV4({
    credentials: { accessKeyId: input.accessKeyId, secretAccessKey: input.secretAccessKey, sessionToken: input.sessionToken },
    region: input.region,
    service: input.service,
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const [hostname, port] = input.host.split(':');
  const signed = await signer.sign(
    { method: input.method, protocol: 'https:', hostname, port: port ? Number(port) : undefined, path: input.path, query: input.query ?? {}, headers: { ...input.headers }, body: input.body },
    { signingDate },
  );
  return signed.headers.authorization;
}

export interface SsmParameter {
  value: string;
  type?: 'String' | 'StringList' | 'SecureString';
  version?: number;
}

export interface SignedRequest {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  sessionToken?: string;
  names: string[];
  withDecryption: unknown;
}

const ACCOUNT = '123456789012';

function error(type: string, message: string, status = 400): FakeAnswer {
  return { status, headers: { 'x-amzn-ErrorType': type }, body: { __type: type, message } };
}

export class FakeSsm extends FakeBackend {
  readonly parameters = new Map<string, SsmParameter[]>();
  /** Access key ids the fake accepts: the secret key each signs with, its session token (if any). */
  readonly keys = new Map<string, { secret: string; sessionToken?: string }>();
  /** Requests whose signature was computed again and matched. */
  verified = 0;
  /** Names under this prefix are denied to every caller. */
  deniedPrefix = '/restricted/';
  region = 'us-east-1';
  readonly signed: SignedRequest[] = [];
  /** Failures of the request's shape or signing seen, which a test expects to be none. */
  readonly problems: string[] = [];

  constructor(tls?: FakeTls) {
    super(tls);
  }

  put(name: string, value: string, type: SsmParameter['type'] = 'String'): void {
    const versions = this.parameters.get(name) ?? [];
    versions.push({ value, type, version: versions.length + 1 });
    this.parameters.set(name, versions);
  }

  protected unavailable(): FakeAnswer {
    return error('InternalServerError', 'An internal error occurred', 500);
  }

  protected async handle(req: FakeRequest): Promise<FakeAnswer> {
    if (req.method !== 'POST' || req.path !== '/') return this.problem(`expected POST /, got ${req.method} ${req.path}`);
    if (req.headers['x-amz-target'] !== 'AmazonSSM.GetParameters') return this.problem(`unexpected X-Amz-Target ${req.headers['x-amz-target']}`);
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return this.problem(`unexpected Content-Type ${req.headers['content-type']}`);
    const auth = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/.exec(
      String(req.headers.authorization ?? ''),
    );
    if (!auth) return this.problem(`no SigV4 Authorization header: ${req.headers.authorization}`);
    const [, accessKeyId, date, region, service, signedHeaders] = auth;
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    if (!amzDate.startsWith(date)) return this.problem(`X-Amz-Date ${amzDate} is not of the scope's day ${date}`);
    const body = JSON.parse(req.body) as { Names?: string[]; WithDecryption?: unknown };
    const sessionToken = req.headers['x-amz-security-token'] as string | undefined;
    this.signed.push({ accessKeyId, date, region, service, signedHeaders: signedHeaders.split(';'), sessionToken, names: body.Names ?? [], withDecryption: body.WithDecryption });
    if (service !== 'ssm' || region !== this.region) return this.problem(`credential scope ${region}/${service}, expected ${this.region}/ssm`);
    for (const h of ['host', 'x-amz-date', 'x-amz-target']) if (!signedHeaders.split(';').includes(h)) return this.problem(`${h} is not signed`);
    if (sessionToken && !signedHeaders.split(';').includes('x-amz-security-token')) return this.problem('the session token is not signed');
    const key = this.keys.get(accessKeyId);
    if (!key || key.sessionToken !== sessionToken) {
      return error('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    const signed = Object.fromEntries(signedHeaders.split(';').map((h) => [h, String(req.headers[h] ?? '')]));
    const expected = await sigV4Authorization({
      method: req.method,
      host: String(req.headers.host),
      path: req.path,
      headers: signed,
      body: req.body,
      accessKeyId,
      secretAccessKey: key.secret,
      sessionToken,
      region,
      service,
      amzDate,
    });
    if (expected !== req.headers.authorization) {
      return error(
        'InvalidSignatureException',
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
      );
    }
    this.verified++;
    const names = body.Names ?? [];
    if (names.length < 1 || names.length > 10) {
      return error('ValidationException', `1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10`);
    }
    const denied = names.find((n) => n.startsWith(this.deniedPrefix));
    if (denied) {
      return error(
        'AccessDeniedException',
        `User: arn:aws:iam::${ACCOUNT}:user/app is not authorized to perform: ssm:GetParameters on resource: arn:aws:ssm:${region}:${ACCOUNT}:parameter${denied} because no identity-based policy allows the ssm:GetParameters action`,
      );
    }
    return { status: 200, body: this.answer(names, body.WithDecryption === true) };
  }

  private answer(names: string[], decrypt: boolean): unknown {
    const Parameters = [];
    const InvalidParameters = [];
    for (const requested of names) {
      const [, name, selector] = /^(.*?)(:\d+)?$/.exec(requested)!;
      const versions = this.parameters.get(name);
      const p = selector ? versions?.[Number(selector.slice(1)) - 1] : versions?.at(-1);
      if (!p) {
        InvalidParameters.push(requested);
        continue;
      }
      Parameters.push({
        Name: name,
        ...(selector ? { Selector: selector } : {}),
        Type: p.type,
        Value: p.type === 'SecureString' && !decrypt ? `AQICAHh-ciphertext-of-${name}` : p.value,
        Version: p.version,
        LastModifiedDate: 1796000000.0,
        ARN: `arn:aws:ssm:${this.region}:${ACCOUNT}:parameter${name}`,
        DataType: 'text',
      });
    }
    return { Parameters, InvalidParameters };
  }

  private problem(text: string): FakeAnswer {
    this.problems.push(text);
    return error('ValidationException', `fake SSM: ${text}`);
  }
}
