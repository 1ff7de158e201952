// The vault source's settings: Waypoint's names first, then the Vault CLI's variables.
import { describe, expect, it } from 'vitest';
import { vaultSettings } from '../../../../src/config/dynamic/sources/vault-settings.js';

describe('vault settings', () => {
  it('fills what the settings leave out from VAULT_*', () => {
    const env = {
      VAULT_ADDR: 'https://vault.env:8200',
      VAULT_TOKEN: 'env-token',
      VAULT_NAMESPACE: 'ns1',
      VAULT_CACERT: '/ca.pem',
      VAULT_CAPATH: '/cas',
      VAULT_CLIENT_CERT: '/c.pem',
      VAULT_CLIENT_KEY: '/k.pem',
      VAULT_TLS_SERVER_NAME: 'vault.internal',
      VAULT_SKIP_VERIFY: '1',
      VAULT_CLIENT_TIMEOUT: '30',
    };
    expect(vaultSettings({}, env)).toEqual({
      addr: 'https://vault.env:8200',
      viaAgent: false,
      token: 'env-token',
      namespace: 'ns1',
      authMethod: 'token',
      mountPath: 'token',
      roleId: undefined,
      secretId: undefined,
      kubernetesRole: undefined,
      kubernetesTokenPath: '/var/run/secrets/kubernetes.io/serviceaccount/token',
      tls: { caFile: '/ca.pem', caPath: '/cas', certFile: '/c.pem', keyFile: '/k.pem', serverName: 'vault.internal', skipVerify: true },
      timeoutMs: 30_000,
    });
    const own = vaultSettings({ addr: 'http://own:8200', token: 'own', skip_verify: 'false', timeout: '2s' }, env);
    expect([own.addr, own.token, own.tls.skipVerify, own.timeoutMs]).toEqual(['http://own:8200', 'own', false, 2000]);
  });

  it("defaults to Vault's own address, and a Vault agent needs no token", () => {
    expect(vaultSettings({ token: 't' }, {}).addr).toBe('https://127.0.0.1:8200');
    const agent = vaultSettings({}, { VAULT_AGENT_ADDR: 'http://127.0.0.1:8100' });
    expect([agent.addr, agent.viaAgent, agent.token]).toEqual(['http://127.0.0.1:8100', true, undefined]);
  });

  it("takes Waypoint's auth settings, the mount path defaulting to the method", () => {
    const k = vaultSettings({ auth_method: 'kubernetes', kubernetes_role: 'web', auth_method_mount_path: '/k8s-east/', kubernetes_token_path: '/t' }, {});
    expect([k.authMethod, k.mountPath, k.kubernetesRole, k.kubernetesTokenPath]).toEqual(['kubernetes', 'k8s-east', 'web', '/t']);
    const a = vaultSettings({ auth_method: 'approle', approle_role_id: 'r', approle_secret_id: 's' }, {});
    expect([a.mountPath, a.roleId, a.secretId]).toEqual(['approle', 'r', 's']);
  });
});
