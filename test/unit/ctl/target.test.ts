// Which server, token and TLS settings a ctl command uses: flags > env > context file, and the
// context's token and TLS only for the context's own server.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { contextPath, readContext, writeContext } from '../../../src/ctl/context.js';
import { CtlError, UsageError } from '../../../src/ctl/errors.js';
import { resolveTarget } from '../../../src/ctl/target.js';

let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ctl-target-'));
  env = { XDG_CONFIG_HOME: dir };
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const CONTEXT = { server_addr: '127.0.0.1:9701', token: 'ctx-token' };

function failure(fn: () => unknown): CtlError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(CtlError);
    return err as CtlError;
  }
  throw new Error('expected a CtlError');
}

describe('contextPath', () => {
  it('is under XDG_CONFIG_HOME, else ~/.config, unless WAYPOINT_CTL_CONTEXT names one', () => {
    expect(contextPath({ XDG_CONFIG_HOME: '/x' })).toBe('/x/waypoint-ctl/context.json');
    expect(contextPath({ HOME: '/home/u' })).toBe('/home/u/.config/waypoint-ctl/context.json');
    expect(contextPath({ XDG_CONFIG_HOME: '/x', WAYPOINT_CTL_CONTEXT: '/tmp/dev.json' })).toBe('/tmp/dev.json');
  });

  it('is written 0600 in a 0700 directory, and read back', () => {
    const file = contextPath(env);
    writeContext(file, { ...CONTEXT, tls: { ca_file: '/ca.pem' } });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(readContext(file)).toEqual({ ...CONTEXT, tls: { ca_file: '/ca.pem' } });
  });

  it('reports a damaged context file in one line naming it', () => {
    const file = path.join(dir, 'bad.json');
    writeFileSync(file, '{ nope');
    expect(failure(() => readContext(file)).message).toMatch(/bad\.json is not valid JSON/);
    writeFileSync(file, '{}');
    expect(failure(() => readContext(file)).message).toMatch(/lacks server_addr or token/);
  });
});

describe('resolveTarget', () => {
  it('uses the context file when nothing else is given', () => {
    writeContext(contextPath(env), CONTEXT);
    expect(resolveTarget({}, env)).toEqual({ addr: '127.0.0.1:9701', token: 'ctx-token', contextFile: contextPath(env), tls: undefined });
  });

  it('prefers env to the context file, and flags to env', () => {
    writeContext(contextPath(env), CONTEXT);
    env.WAYPOINT_SERVER_ADDR = 'env.example:1';
    env.WAYPOINT_TOKEN = 'env-token';
    expect(resolveTarget({}, env)).toMatchObject({ addr: 'env.example:1', token: 'env-token' });
    expect(resolveTarget({}, env).contextFile).toBeUndefined(); // rotate-operator has no file to update
    expect(resolveTarget({ serverAddr: 'flag.example:2', token: 'flag-token' }, env)).toMatchObject({
      addr: 'flag.example:2',
      token: 'flag-token',
    });
    expect(resolveTarget({ token: 'flag-token' }, env)).toMatchObject({ addr: 'env.example:1', token: 'flag-token' });
  });

  it("gives the context's token only to the context's server", () => {
    writeContext(contextPath(env), CONTEXT);
    expect(resolveTarget({ serverAddr: '127.0.0.1:9701' }, env).token).toBe('ctx-token');
    expect(failure(() => resolveTarget({ serverAddr: 'elsewhere:9701' }, env)).message).toMatch(/no token for elsewhere:9701/);
  });

  it('says how to configure a server when there is none', () => {
    const err = failure(() => resolveTarget({}, env));
    expect(err).not.toBeInstanceOf(UsageError);
    expect(err.message).toMatch(/--server-addr.*WAYPOINT_SERVER_ADDR.*server run/);
  });

  it('refuses a malformed address as a usage error', () => {
    expect(() => resolveTarget({ serverAddr: 'no-port', token: 't' }, env)).toThrow(UsageError);
    expect(() => resolveTarget({ token: 't' }, { ...env, WAYPOINT_SERVER_ADDR: 'x:99999' })).toThrow(UsageError);
  });

  it('ignores a damaged context file when flags say everything', () => {
    writeFileSync(path.join(dir, 'bad.json'), '{ nope');
    env.WAYPOINT_CTL_CONTEXT = path.join(dir, 'bad.json');
    expect(resolveTarget({ serverAddr: 'a:1', token: 't' }, env)).toMatchObject({ addr: 'a:1', token: 't' });
  });

  it('takes TLS from flags, then env, then the context of the same server', () => {
    writeContext(contextPath(env), { ...CONTEXT, tls: { ca_file: '/ctx-ca.pem' } });
    expect(resolveTarget({}, env).tls).toEqual({ skipVerify: false, caFile: '/ctx-ca.pem' });
    expect(resolveTarget({ tlsCaFile: '/flag-ca.pem' }, env).tls).toEqual({ skipVerify: false, caFile: '/flag-ca.pem' });
    expect(resolveTarget({ tlsSkipVerify: true }, env).tls).toEqual({ skipVerify: true, caFile: undefined });
    expect(resolveTarget({}, { ...env, WAYPOINT_SERVER_TLS: 'false' }).tls).toBeUndefined();
    expect(resolveTarget({}, { ...env, WAYPOINT_SERVER_TLS: '1' }).tls).toEqual({ skipVerify: false, caFile: undefined });
    expect(resolveTarget({ serverAddr: 'other:1', token: 't' }, env).tls).toBeUndefined();
  });

  it('refuses a malformed boolean as a usage error naming the variable', () => {
    writeContext(contextPath(env), CONTEXT);
    expect(() => resolveTarget({}, { ...env, WAYPOINT_SERVER_TLS: 'maybe' })).toThrow(/WAYPOINT_SERVER_TLS/);
  });
});
