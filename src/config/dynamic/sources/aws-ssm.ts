// The `aws-ssm` dynamic config source: SSM Parameter Store parameters (Waypoint's request
// field: path), read with GetParameters and WithDecryption (SecureString values decrypted), ten
// names a call (the API's limit). Signing and the credential chain are the AWS SDK's own
// (environment, shared config and credentials files with a profile, SSO, web identity, ECS
// and EC2 instance roles), so this module, the only one that loads the SDK, is a lazy chunk.
import https from 'node:https';
import { GetParametersCommand, SSMClient, type GetParametersCommandOutput, type Parameter } from '@aws-sdk/client-ssm';
import type { DynamicRequest, DynamicResult, DynamicSource, SourceContext, SourceFactory } from '../source.js';
import { SourceSettingsError } from '../source.js';
import { oneLine, seconds, TLS_UNTRUSTED, tlsOptions } from './shared/http.js';
import { failed } from './shared/results.js';
import { parseBool, parseDuration, pick, type Settings, warnUnknown } from './shared/settings.js';

const KNOWN = [
  'region', 'access_key', 'secret_key', 'token', 'profile', 'endpoint', 'max_retries', 'timeout', 'ca_file', 'insecure',
  // Waypoint's, which need nothing here: the SDK checks credentials and the metadata API itself
  'skip_creds_validation', 'skip_metadata_api_check', 'skip_requesting_account_id',
];

/** Waypoint's settings this source does not have, and what does the same. */
const UNSUPPORTED: Record<string, string> = {
  assume_role_arn: 'a profile with role_arn (profile, AWS_PROFILE) or AWS_ROLE_ARN with a web identity token',
  creds_filename: 'AWS_SHARED_CREDENTIALS_FILE',
};

/** GetParameters takes at most ten names. */
const BATCH = 10;

export const create: SourceFactory = (settings, context) => new SsmSource(settings, context);

class SsmSource implements DynamicSource {
  private readonly client: SSMClient;
  private readonly timeoutMs: number;

  constructor(settings: Settings, context: SourceContext) {
    for (const [name, instead] of Object.entries(UNSUPPORTED)) {
      if (settings[name]) throw new SourceSettingsError(`the aws-ssm setting ${name} is not supported here: use ${instead}`);
    }
    warnUnknown(settings, [...KNOWN, ...Object.keys(UNSUPPORTED)], 'aws-ssm', context.logger);
    this.timeoutMs = parseDuration(pick(settings, {}, 'timeout'), 'aws-ssm timeout', 10_000);
    const accessKeyId = pick(settings, {}, 'access_key');
    const secretAccessKey = pick(settings, {}, 'secret_key');
    if (!accessKeyId !== !secretAccessKey) throw new SourceSettingsError('aws-ssm needs both access_key and secret_key, or neither (for the default credential chain)');
    const retries = pick(settings, {}, 'max_retries');
    if (retries !== undefined && !/^\d+$/.test(retries)) throw new SourceSettingsError(`aws-ssm max_retries must be a number, not ${JSON.stringify(retries)}`);
    const tls = tlsOptions(
      { caFile: pick(settings, context.env, 'ca_file', 'AWS_CA_BUNDLE'), skipVerify: parseBool(pick(settings, {}, 'insecure'), 'aws-ssm insecure') },
      { caFile: 'ca_file (AWS_CA_BUNDLE)' },
    );
    this.client = quietly(
      () =>
        new SSMClient({
          region: pick(settings, context.env, 'region', 'AWS_REGION', 'AWS_DEFAULT_REGION'),
          endpoint: pick(settings, {}, 'endpoint'),
          profile: pick(settings, {}, 'profile'),
          credentials: accessKeyId ? { accessKeyId, secretAccessKey: secretAccessKey!, sessionToken: pick(settings, {}, 'token') } : undefined,
          maxAttempts: retries === undefined ? undefined : Number(retries) + 1,
          requestHandler: { httpsAgent: new https.Agent({ keepAlive: true, ...tls }), requestTimeout: this.timeoutMs, connectionTimeout: this.timeoutMs },
        }),
    );
  }

  async read(requests: readonly DynamicRequest[], signal: AbortSignal): Promise<DynamicResult[]> {
    const names = [...new Set(requests.map((r) => r.config.path).filter((p): p is string => !!p))];
    const batches: string[][] = [];
    for (let i = 0; i < names.length; i += BATCH) batches.push(names.slice(i, i + BATCH));
    const found = new Map<string, DynamicResult>();
    await Promise.all(batches.map(async (batch) => this.batch(batch, signal, found)));
    return requests.map((req) => {
      if (!req.config.path) return failed('invalid', `an aws-ssm variable needs path (the parameter's name, e.g. /app/db/password)`);
      return found.get(req.config.path)!;
    });
  }

  close(): void {
    this.client.destroy();
  }

  private async batch(names: string[], signal: AbortSignal, into: Map<string, DynamicResult>): Promise<void> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    let out: GetParametersCommandOutput;
    try {
      out = await this.client.send(new GetParametersCommand({ Names: names, WithDecryption: true }), { abortSignal: AbortSignal.any([signal, deadline]) });
    } catch (err) {
      const result = sdkFailure(err, deadline.aborted, this.timeoutMs);
      for (const name of names) into.set(name, result);
      return;
    }
    const byName = new Map<string, Parameter>();
    // A name asked with a selector (name:3, name:label) comes back as Name plus Selector: keyed
    // apart, so that it never stands for the same name asked without one
    for (const p of out.Parameters ?? []) {
      const keys = p.Selector ? [`${p.Name}${p.Selector}`, `${p.ARN}${p.Selector}`] : [p.Name, p.ARN];
      for (const key of keys) if (key) byName.set(key, p);
    }
    const invalid = new Set(out.InvalidParameters ?? []);
    for (const name of names) {
      const p = byName.get(name);
      if (p?.Value !== undefined) into.set(name, { ok: true, value: p.Value });
      else if (invalid.has(name)) into.set(name, failed('not-found', `SSM has no parameter ${name} (or no version or label of it by that selector)`));
      else into.set(name, failed('transient', `SSM answered without parameter ${name}`));
    }
  }
}

const DENIED = new Set([
  'AccessDeniedException', 'UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch', 'IncompleteSignature',
  'ExpiredTokenException', 'InvalidClientTokenId', 'CredentialsProviderError', 'KMSAccessDeniedException',
]);

/** An SDK error as a result: its name and AWS's message on one line, never a credential. */
function sdkFailure(err: unknown, timedOut: boolean, timeoutMs: number): DynamicResult {
  const e = err as { name?: string; code?: string; message?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const says = oneLine(e?.message ?? String(err), 300);
  if (name === 'AbortError' || (timedOut && name !== 'CredentialsProviderError')) {
    return failed('transient', timedOut ? `SSM did not answer within ${seconds(timeoutMs)}` : 'the request to SSM was cancelled');
  }
  if (e?.code && TLS_UNTRUSTED.has(e.code)) {
    return failed('invalid', `SSM's endpoint presented a certificate this entrypoint does not trust (${e.code}): set ca_file (AWS_CA_BUNDLE) to its CA`);
  }
  if (DENIED.has(name)) {
    const hint = name === 'CredentialsProviderError' ? ': give the entrypoint AWS credentials (AWS_ACCESS_KEY_ID…, a profile, or a role)' : '';
    return failed('denied', `SSM GetParameters was refused: ${name}: ${says}${hint}`);
  }
  if (/region is missing/i.test(says)) return failed('invalid', 'no AWS region: set region on the source, or AWS_REGION');
  const status = e?.$metadata?.httpStatusCode;
  if (e?.$fault === 'client' && status !== undefined && status !== 429 && !/Throttl/.test(name)) {
    return failed('invalid', `SSM GetParameters failed: ${name}: ${says}`);
  }
  return failed('transient', `SSM GetParameters failed: ${name}: ${says}`);
}

/** The SDK warns on stderr, in many lines, that its releases after January 2027 need Node 22
 * (the release binary has Node 24; only a local build on Node 20 would print it). It is told not
 * to while the client is made, its one warning check, and the environment is put back, so that
 * the app's environment does not change. */
function quietly<T>(make: () => T): T {
  const name = 'AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED';
  const before = process.env[name];
  process.env[name] = 'true';
  try {
    return make();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
}
