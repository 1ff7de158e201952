// The connection's pure parts: TLS mode and credential errors, failure classification, version
// check, config message checks, and the fail-open wait.
import { describe, expect, it } from 'vitest';
import { checkConfigResponse, describeConfig } from '../../../src/connection/config-message.js';
import { channelCredentials, CredentialsError, tlsMode } from '../../../src/connection/credentials.js';
import { channelOptions } from '../../../src/connection/dial.js';
import { callFailure, tidyDetails } from '../../../src/connection/errors.js';
import { waitForFirstConfig } from '../../../src/connection/fail-open.js';
import { checkVersion } from '../../../src/connection/session.js';
import { grpc } from '../../../src/protocol/load.js';

const tls = (o: Partial<{ serverTls: boolean; serverTlsSkipVerify: boolean; serverTlsCaFile: string }>) => ({
  serverTls: false,
  serverTlsSkipVerify: false,
  ...o,
});

describe('credentials', () => {
  it('picks the TLS mode; skip-verify and a CA file imply TLS', () => {
    expect(tlsMode(tls({}))).toBe('plaintext');
    expect(tlsMode(tls({ serverTls: true }))).toBe('tls');
    expect(tlsMode(tls({ serverTlsCaFile: '/ca.pem' }))).toBe('tls-ca-file');
    expect(tlsMode(tls({ serverTls: true, serverTlsCaFile: '/ca.pem' }))).toBe('tls-ca-file');
    expect(tlsMode(tls({ serverTlsSkipVerify: true, serverTlsCaFile: '/ca.pem' }))).toBe('tls-skip-verify');
  });

  it('a CA file that cannot be read is a CredentialsError naming the file and the reason', () => {
    const err = (() => {
      try {
        channelCredentials(tls({ serverTlsCaFile: '/nonexistent/ca.pem' }));
      } catch (e) {
        return e as Error;
      }
      throw new Error('no error');
    })();
    expect(err).toBeInstanceOf(CredentialsError);
    expect(err.message).toBe('cannot read WAYPOINT_SERVER_TLS_CA_FILE=/nonexistent/ca.pem: ENOENT');
  });

  it('a CA file without a PEM certificate is refused', () => {
    expect(() => channelCredentials(tls({ serverTlsCaFile: '/x' }), () => Buffer.from('hello'))).toThrow(
      'WAYPOINT_SERVER_TLS_CA_FILE=/x holds no PEM certificate',
    );
  });

  it('reads the CA file once, when the credentials are built', () => {
    let reads = 0;
    const creds = channelCredentials(tls({ serverTlsCaFile: '/x' }), () => {
      reads++;
      return Buffer.from('-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    });
    expect(creds._isSecure()).toBe(true);
    expect(reads).toBe(1);
    expect(channelCredentials(tls({}))._isSecure()).toBe(false);
    expect(channelCredentials(tls({ serverTlsSkipVerify: true }))._isSecure()).toBe(true);
  });
});

describe('channel options', () => {
  it('HTTP/2 pings every 30 s, 10 s to answer, also without calls; our own subchannels; no hidden retries', () => {
    expect(channelOptions('1.0.0')).toMatchObject({
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.use_local_subchannel_pool': 1,
      'grpc.enable_retries': 0,
      'grpc.primary_user_agent': 'waypoint-entrypoint/1.0.0',
    });
  });

  it('a receive window of 1 MiB: several 64 KiB messages in flight toward us, and a bound on what paused streams hold', () => {
    expect(channelOptions('1.0.0')['grpc-node.flow_control_window']).toBe(1024 * 1024);
  });
});

describe('failures', () => {
  const err = (code: number, details: string) => Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });

  it('keeps the cause of grpc-js connection errors, without their timestamps', () => {
    expect(
      tidyDetails('No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1 (2026-11-27T22:58:01.123Z). Resolution note: '),
    ).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(tidyDetails('read ECONNRESET (2026-11-27T22:58:01.123Z)')).toBe('read ECONNRESET');
    expect(tidyDetails('plain')).toBe('plain');
  });

  it('classifies statuses into what the retry loop decides on', () => {
    const S = grpc.status;
    expect(callFailure('X', err(S.UNAVAILABLE, 'down')).kind).toBe('unreachable');
    expect(callFailure('X', err(S.DEADLINE_EXCEEDED, 'late')).kind).toBe('silent');
    expect(callFailure('X', err(S.UNAUTHENTICATED, 'who')).kind).toBe('unauthenticated');
    expect(callFailure('X', err(S.CANCELLED, 'c')).kind).toBe('closed');
    const denied = callFailure('EntrypointConfig', err(S.PERMISSION_DENIED, 'not yours'));
    expect(denied.kind).toBe('rejected');
    expect(denied.message).toBe('EntrypointConfig: PERMISSION_DENIED: not yours');
    expect(denied.code).toBe(S.PERMISSION_DENIED);
  });
});

describe('checkVersion', () => {
  const info = (entrypoint: { minimum: number; current: number } | null, features: string[] = []) => ({
    info: { api: { minimum: 1, current: 1 }, entrypoint, version: 'v0.11.4' },
    server_features: { features: features as never[] },
  });

  it('accepts an overlapping range and notes the inline keepalive feature', () => {
    expect(checkVersion(info({ minimum: 1, current: 1 }))).toEqual({ protocolVersion: 1, serverVersion: 'v0.11.4', inlineKeepalives: false });
    expect(checkVersion(info({ minimum: 1, current: 2 }, ['FEATURE_INLINE_KEEPALIVES'])).inlineKeepalives).toBe(true);
  });

  it('refuses a disjoint range, naming both', () => {
    expect(() => checkVersion(info({ minimum: 5, current: 5 }))).toThrow(
      'the server (version v0.11.4) speaks entrypoint protocol 5 (minimum 5, current 5), this entrypoint speaks 1 (minimum 1, current 1)',
    );
    expect(() => checkVersion(info({ minimum: 5, current: 5 }))).toThrow(expect.objectContaining({ kind: 'incompatible' }));
  });

  it('refuses a server that reports no entrypoint protocol', () => {
    expect(() => checkVersion(info(null))).toThrow('reports no entrypoint protocol version');
  });
});

describe('config messages', () => {
  it('accepts a well-formed config, empty included', () => {
    const config = { env_vars: [], exec: [], url_service: null, deployment: null, config_sources: [], file_change_signal: '' };
    expect(checkConfigResponse({ config })).toEqual({ ok: true, config });
  });

  it('refuses a message without a config, a nameless var, a bad name, a bad exec', () => {
    const base = { env_vars: [], exec: [], url_service: null, deployment: null, config_sources: [], file_change_signal: '' };
    const v = (name: string, extra = {}) => ({ name, internal: false, name_is_path: false, static: 'x', ...extra });
    expect(checkConfigResponse({ config: null })).toEqual({ ok: false, problem: 'the message carries no config' });
    expect(checkConfigResponse({ config: { ...base, env_vars: [v('')] } })).toMatchObject({ ok: false, problem: 'env var #0 has no name' });
    expect(checkConfigResponse({ config: { ...base, env_vars: [v('A=B')] } })).toMatchObject({ ok: false });
    expect(checkConfigResponse({ config: { ...base, env_vars: [v('conf/a=b.ini', { name_is_path: true })] } })).toMatchObject({ ok: true });
    expect(checkConfigResponse({ config: { ...base, exec: [{ index: '-1', args: ['sh'], pty: null }] } })).toMatchObject({ ok: false });
    expect(checkConfigResponse({ config: { ...base, exec: [{ index: '3', args: [], pty: null }] } })).toMatchObject({
      ok: false,
      problem: 'exec 3 has no command',
    });
  });

  it('describes a config by counts, never by values', () => {
    const config = {
      env_vars: [
        { name: 'SECRET', static: 'hunter2', internal: false, name_is_path: false },
        { name: '/etc/app.conf', static: 'x=1', internal: false, name_is_path: true },
      ],
      exec: [],
      url_service: null,
      deployment: null,
      config_sources: [],
      file_change_signal: 'SIGHUP',
    };
    const d = describeConfig(config);
    expect(d).toEqual({ env_vars: 2, files: 1, exec: 0, url_service: 'no', config_sources: 0, file_change_signal: 'SIGHUP' });
    expect(JSON.stringify(d)).not.toContain('hunter2');
  });
});

describe('waitForFirstConfig', () => {
  const never = new Promise<never>(() => {});

  it('starts with the config when it comes first', async () => {
    const r = await waitForFirstConfig({ firstConfig: Promise.resolve({}), remainingMs: 10_000, required: false, stopped: never });
    expect(r.reason).toBe('config');
  });

  it('fails open when the window runs out', async () => {
    const t = Date.now();
    const r = await waitForFirstConfig({ firstConfig: never, remainingMs: 50, required: false, stopped: never });
    expect(r.reason).toBe('timeout');
    expect(Date.now() - t).toBeGreaterThanOrEqual(45);
  });

  it('a window already over (gRPC took long to load) fails open at once', async () => {
    const r = await waitForFirstConfig({ firstConfig: never, remainingMs: -20, required: false, stopped: never });
    expect(r.reason).toBe('timeout');
  });

  it('with the server required there is no timeout, but a stop still ends the wait', async () => {
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const wait = waitForFirstConfig({ firstConfig: never, remainingMs: 1, required: true, stopped });
    const raced = await Promise.race([wait, new Promise((r) => setTimeout(() => r('still waiting'), 100))]);
    expect(raced).toBe('still waiting');
    stop();
    expect((await wait).reason).toBe('stopped');
  });

  it('a connection that can never work ends the wait with its error', async () => {
    const error = new CredentialsError('bad CA');
    const r = await waitForFirstConfig({ firstConfig: Promise.reject(error), remainingMs: 10_000, required: true, stopped: never });
    expect(r).toEqual({ reason: 'unusable', error });
  });
});
