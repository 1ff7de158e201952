// The vault source's settings, by the names of Waypoint's own Vault config sourcer (so that a
// Waypoint user's `waypoint config source-set -type=vault` settings work unchanged), each
// falling back to the Vault CLI's environment variable.
import type { Logger } from '../../../log.js';
import { SourceSettingsError } from '../source.js';
import type { TlsFiles } from './shared/http.js';
import { parseBool, parseDuration, pick, type Settings, warnUnknown } from './shared/settings.js';

export type VaultAuthMethod = 'token' | 'approle' | 'kubernetes';

export interface VaultSettings {
  addr: string;
  /** A Vault agent's address (agent_addr, VAULT_AGENT_ADDR): the agent adds the token itself. */
  viaAgent: boolean;
  token?: string;
  namespace?: string;
  authMethod: VaultAuthMethod;
  mountPath: string;
  roleId?: string;
  secretId?: string;
  kubernetesRole?: string;
  kubernetesTokenPath: string;
  tls: TlsFiles;
  timeoutMs: number;
}

const KNOWN = [
  'addr', 'agent_addr', 'token', 'namespace', 'ca_cert', 'ca_path', 'client_cert', 'client_key', 'tls_server_name',
  'skip_verify', 'auth_method', 'auth_method_mount_path', 'approle_role_id', 'approle_secret_id', 'kubernetes_role',
  'kubernetes_token_path', 'timeout',
];

/** Where Kubernetes mounts a pod's service-account token. */
export const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/** Vault's own default address, as its CLI and Go client use when VAULT_ADDR is unset. */
const DEFAULT_ADDR = 'https://127.0.0.1:8200';

export function vaultSettings(settings: Settings, env: NodeJS.ProcessEnv, logger?: Logger): VaultSettings {
  if (logger) warnUnknown(settings, KNOWN, 'vault', logger);
  const agent = pick(settings, env, 'agent_addr', 'VAULT_AGENT_ADDR');
  const method = (pick(settings, {}, 'auth_method') ?? 'token') as VaultAuthMethod;
  if (!['token', 'approle', 'kubernetes'].includes(method)) {
    throw new SourceSettingsError(`vault auth_method ${JSON.stringify(method)} is not supported here: use token, approle or kubernetes`);
  }
  const result: VaultSettings = {
    addr: agent ?? pick(settings, env, 'addr', 'VAULT_ADDR') ?? DEFAULT_ADDR,
    viaAgent: agent !== undefined,
    token: pick(settings, env, 'token', 'VAULT_TOKEN'),
    namespace: pick(settings, env, 'namespace', 'VAULT_NAMESPACE'),
    authMethod: method,
    mountPath: (pick(settings, {}, 'auth_method_mount_path') ?? method).replace(/^\/+|\/+$/g, ''),
    roleId: pick(settings, {}, 'approle_role_id'),
    secretId: pick(settings, {}, 'approle_secret_id'),
    kubernetesRole: pick(settings, {}, 'kubernetes_role'),
    kubernetesTokenPath: pick(settings, {}, 'kubernetes_token_path') ?? SERVICE_ACCOUNT_TOKEN,
    tls: {
      caFile: pick(settings, env, 'ca_cert', 'VAULT_CACERT'),
      caPath: pick(settings, env, 'ca_path', 'VAULT_CAPATH'),
      certFile: pick(settings, env, 'client_cert', 'VAULT_CLIENT_CERT'),
      keyFile: pick(settings, env, 'client_key', 'VAULT_CLIENT_KEY'),
      serverName: pick(settings, env, 'tls_server_name', 'VAULT_TLS_SERVER_NAME'),
      skipVerify: parseBool(pick(settings, env, 'skip_verify', 'VAULT_SKIP_VERIFY'), 'vault skip_verify'),
    },
    timeoutMs: parseDuration(pick(settings, env, 'timeout', 'VAULT_CLIENT_TIMEOUT'), 'vault timeout', 10_000),
  };
  check(result);
  return result;
}

function check(s: VaultSettings): void {
  if (s.authMethod === 'token' && !s.token && !s.viaAgent) {
    throw new SourceSettingsError('vault needs a token: set token (or VAULT_TOKEN), an auth_method (approle, kubernetes), or agent_addr');
  }
  if (s.authMethod === 'approle' && (!s.roleId || !s.secretId)) {
    throw new SourceSettingsError('vault auth_method approle needs approle_role_id and approle_secret_id');
  }
  if (s.authMethod === 'kubernetes' && !s.kubernetesRole) {
    throw new SourceSettingsError('vault auth_method kubernetes needs kubernetes_role (the Vault role bound to this service account)');
  }
}
