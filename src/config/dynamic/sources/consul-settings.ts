// The consul source's settings, by the names of Waypoint's Consul config sourcer (its `tls`
// block flattened: ca_file, cert_file…), each falling back to the Consul CLI's variable.
import type { Logger } from '../../../log.js';
import { SourceSettingsError } from '../source.js';
import type { TlsFiles } from './shared/http.js';
import { parseBool, parseDuration, pick, type Settings, warnUnknown } from './shared/settings.js';

export interface ConsulSettings {
  address: string;
  token?: string;
  tokenFile?: string;
  httpAuth?: string;
  datacenter?: string;
  namespace?: string;
  partition?: string;
  tls: TlsFiles;
  timeoutMs: number;
  /** How long one blocking query waits for a change (Consul caps it at 10 minutes). */
  waitMs: number;
}

const KNOWN = [
  'address', 'scheme', 'token', 'token_file', 'http_auth', 'datacenter', 'namespace', 'partition',
  'ca_file', 'ca_path', 'cert_file', 'key_file', 'server_name', 'insecure_https', 'timeout', 'wait',
];

export function consulSettings(settings: Settings, env: NodeJS.ProcessEnv, logger?: Logger): ConsulSettings {
  if (logger) warnUnknown(settings, KNOWN, 'consul', logger);
  const https = parseBool(pick(settings, {}, 'scheme') === 'https' ? 'true' : pick({}, env, '', 'CONSUL_HTTP_SSL'), 'CONSUL_HTTP_SSL');
  const verify = parseBool(pick({}, env, '', 'CONSUL_HTTP_SSL_VERIFY'), 'CONSUL_HTTP_SSL_VERIFY', true);
  const waitMs = parseDuration(pick(settings, {}, 'wait'), 'consul wait', 300_000);
  if (waitMs > 600_000) throw new SourceSettingsError('consul wait is at most 10m, as Consul caps a blocking query there');
  return {
    address: address(pick(settings, env, 'address', 'CONSUL_HTTP_ADDR') ?? '127.0.0.1:8500', https),
    token: pick(settings, env, 'token', 'CONSUL_HTTP_TOKEN'),
    tokenFile: pick(settings, env, 'token_file', 'CONSUL_HTTP_TOKEN_FILE'),
    httpAuth: pick(settings, env, 'http_auth', 'CONSUL_HTTP_AUTH'),
    datacenter: pick(settings, {}, 'datacenter'),
    namespace: pick(settings, env, 'namespace', 'CONSUL_NAMESPACE'),
    partition: pick(settings, env, 'partition', 'CONSUL_PARTITION'),
    tls: {
      caFile: pick(settings, env, 'ca_file', 'CONSUL_CACERT'),
      caPath: pick(settings, env, 'ca_path', 'CONSUL_CAPATH'),
      certFile: pick(settings, env, 'cert_file', 'CONSUL_CLIENT_CERT'),
      keyFile: pick(settings, env, 'key_file', 'CONSUL_CLIENT_KEY'),
      serverName: pick(settings, env, 'server_name', 'CONSUL_TLS_SERVER_NAME'),
      skipVerify: parseBool(pick(settings, {}, 'insecure_https'), 'consul insecure_https', !verify),
    },
    timeoutMs: parseDuration(pick(settings, {}, 'timeout'), 'consul timeout', 10_000),
    waitMs,
  };
}

/** CONSUL_HTTP_ADDR is host:port or a URL; a bare host:port is https when CONSUL_HTTP_SSL
 * (or scheme=https) says so. */
function address(value: string, https: boolean): string {
  if (/^unix:/.test(value)) throw new SourceSettingsError('the consul source does not speak to a unix socket: give the agent\'s HTTP address');
  if (/^https?:\/\//.test(value)) return value;
  return `${https ? 'https' : 'http'}://${value}`;
}
