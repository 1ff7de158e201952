// The consul source's settings: Waypoint's names first, then the Consul CLI's variables.
import { describe, expect, it } from 'vitest';
import { SourceSettingsError } from '../../../../src/config/dynamic/source.js';
import { consulSettings } from '../../../../src/config/dynamic/sources/consul-settings.js';

describe('consul settings', () => {
  it("defaults to the local agent and reads CONSUL_* as Consul's CLI does", () => {
    expect(consulSettings({}, {}).address).toBe('http://127.0.0.1:8500');
    const s = consulSettings(
      {},
      {
        CONSUL_HTTP_ADDR: 'consul.service:8501',
        CONSUL_HTTP_SSL: 'true',
        CONSUL_HTTP_SSL_VERIFY: 'false',
        CONSUL_HTTP_TOKEN: 't',
        CONSUL_HTTP_AUTH: 'u:p',
        CONSUL_NAMESPACE: 'ns',
        CONSUL_PARTITION: 'pt',
        CONSUL_CACERT: '/ca',
        CONSUL_TLS_SERVER_NAME: 'consul.internal',
      },
    );
    expect(s).toMatchObject({ address: 'https://consul.service:8501', token: 't', httpAuth: 'u:p', namespace: 'ns', partition: 'pt', waitMs: 300_000, timeoutMs: 10_000 });
    expect(s.tls).toMatchObject({ caFile: '/ca', serverName: 'consul.internal', skipVerify: true });
  });

  it('keeps a URL address as it is and takes scheme=https for a bare one', () => {
    expect(consulSettings({ address: 'http://a:1' }, { CONSUL_HTTP_SSL: 'true' }).address).toBe('http://a:1');
    expect(consulSettings({ address: 'a:1', scheme: 'https' }, {}).address).toBe('https://a:1');
  });

  it('refuses a unix socket and a wait over 10 minutes', () => {
    expect(() => consulSettings({ address: 'unix:///tmp/consul.sock' }, {})).toThrow(SourceSettingsError);
    expect(() => consulSettings({ wait: '11m' }, {})).toThrow(/at most 10m/);
  });
});
