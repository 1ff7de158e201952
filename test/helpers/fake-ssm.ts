// A loopback SSM endpoint, from the API reference of GetParameters (AWS JSON 1.1: POST / with
// X-Amz-Target AmazonSSM.GetParameters). It checks the request's shape and that the SDK signed
// it with SigV4 for the expected credential scope (the signature itself is the SDK's, and is not
// recomputed here), and answers as SSM does: Parameters and InvalidParameters, or an error
// with __type and message.
import type { FakeAnswer, FakeRequest, FakeTls } from './fake-backend.js';
import { FakeBackend } from './fake-backend.js';

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
  /** Access key ids the fake accepts, with the session token each needs (if any). */
  readonly keys = new Map<string, string | undefined>();
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

  protected handle(req: FakeRequest): FakeAnswer {
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
    if (!this.keys.has(accessKeyId) || this.keys.get(accessKeyId) !== sessionToken) {
      return error('UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
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
