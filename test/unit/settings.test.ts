// Settings: every env var parsed in one place; a malformed value names the variable and the
// forms it accepts (DESIGN.md section 5).
import { describe, expect, it } from 'vitest';
import {
  isConnected,
  loadSettings,
  parseBoolean,
  parseDuration,
  parseLogLevel,
  parsePort,
  parseServerAddr,
  serverList,
  parseSize,
  SettingsError,
  logFormatOf,
  parseLogFormat,
} from '../../src/settings.js';

/** Runs `fn`, which must throw a SettingsError, and returns it. */
function settingsError(fn: () => unknown): SettingsError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SettingsError);
    return err as SettingsError;
  }
  throw new Error('expected a SettingsError, nothing was thrown');
}

describe('parseBoolean', () => {
  it.each(['1', 'true', 'TRUE', 'True', 'yes', 'YES', ' yes '])('accepts %j as true', (v) => {
    expect(parseBoolean('X', v)).toBe(true);
  });
  it.each(['0', 'false', 'FALSE', 'no', 'No', ' 0 '])('accepts %j as false', (v) => {
    expect(parseBoolean('X', v)).toBe(false);
  });
  it.each(['maybe', '2', 'on', 'off', 'y', 'n', 'truthy', ''])('rejects %j naming the variable and accepted forms', (v) => {
    const err = settingsError(() => parseBoolean('WAYPOINT_CEB_DISABLE', v));
    expect(err.variable).toBe('WAYPOINT_CEB_DISABLE');
    expect(err.value).toBe(v);
    expect(err.message).toContain('WAYPOINT_CEB_DISABLE');
    expect(err.message).toContain(JSON.stringify(v));
    expect(err.message).toMatch(/1\/0/);
    expect(err.message).toMatch(/true\/false/);
    expect(err.message).toMatch(/yes\/no/);
    expect(err.message).not.toContain('\n');
  });
});

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['500ms', 500],
    ['5s', 5000],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1500],
    ['0.5ms', 1], // rounded to whole milliseconds
    ['0s', 0],
    [' 5s ', 5000],
  ])('parses %j as %d ms', (v, ms) => {
    expect(parseDuration('X', v)).toBe(ms);
  });
  it.each(['abc', '5', '10', 's', 'ms', '5 s', '-5s', '5sec', '5S', '1m30', '5s abc', ''])(
    'rejects %j naming the variable and accepted forms',
    (v) => {
      const err = settingsError(() => parseDuration('WAYPOINT_CEB_STOP_TIMEOUT', v));
      expect(err.variable).toBe('WAYPOINT_CEB_STOP_TIMEOUT');
      expect(err.message).toContain('WAYPOINT_CEB_STOP_TIMEOUT');
      expect(err.message).toContain('500ms');
      expect(err.message).toContain('5s');
      expect(err.message).toContain('2m');
      expect(err.message).not.toContain('\n');
    },
  );
});

describe('parseSize', () => {
  it.each([
    ['0', 0],
    ['1048576', 1_048_576],
    ['10b', 10],
    ['1k', 1024],
    ['512KiB', 512 * 1024],
    ['1kb', 1000],
    ['1MiB', 1024 * 1024],
    ['1M', 1024 * 1024],
    ['2MB', 2_000_000],
    ['1GiB', 1024 ** 3],
    ['1GB', 1e9],
    ['1.5KiB', 1536],
    ['1 MiB', 1024 * 1024],
  ])('parses %j as %d bytes', (v, bytes) => {
    expect(parseSize('X', v)).toBe(bytes);
  });
  it.each(['abc', '1TiB', '-1', 'MiB', '1 2', '1MiBs', ''])('rejects %j naming the variable and accepted forms', (v) => {
    const err = settingsError(() => parseSize('WAYPOINT_CEB_LOG_BUFFER', v));
    expect(err.message).toContain('WAYPOINT_CEB_LOG_BUFFER');
    expect(err.message).toContain('MiB');
    expect(err.message).not.toContain('\n');
  });
});

describe('parseLogLevel', () => {
  it.each([
    ['trace', 'trace'],
    ['debug', 'debug'],
    ['info', 'info'],
    ['warn', 'warn'],
    ['warning', 'warn'],
    ['error', 'error'],
    ['INFO', 'info'],
    [' Debug ', 'debug'],
  ])('parses %j as %j', (v, level) => {
    expect(parseLogLevel('X', v)).toBe(level);
  });
  it.each(['verbose', 'fatal', 'inf', ''])('rejects %j listing the levels', (v) => {
    const err = settingsError(() => parseLogLevel('WAYPOINT_LOG_LEVEL', v));
    expect(err.message).toContain('WAYPOINT_LOG_LEVEL');
    for (const level of ['trace', 'debug', 'info', 'warn', 'error']) expect(err.message).toContain(level);
  });
});

describe('parseLogFormat / logFormatOf', () => {
  it.each([
    ['text', 'text'],
    ['json', 'json'],
    [' JSON ', 'json'],
  ])('parses %j as %j', (v, format) => {
    expect(parseLogFormat('X', v)).toBe(format);
  });
  it.each(['xml', 'pino', 'logfmt', ''])('rejects %j naming the two formats', (v) => {
    expect(settingsError(() => parseLogFormat('WAYPOINT_LOG_FORMAT', v)).message).toBe(
      `invalid WAYPOINT_LOG_FORMAT=${JSON.stringify(v)}: expected text or json`,
    );
  });
  it('reads the format for the lines before the settings, falling back to text on a bad value', () => {
    expect(logFormatOf({ WAYPOINT_LOG_FORMAT: 'json' })).toBe('json');
    expect(logFormatOf({ WAYPOINT_LOG_FORMAT: 'xml' })).toBe('text');
    expect(logFormatOf({})).toBe('text');
  });
});

describe('parsePort', () => {
  it.each([
    ['1', 1],
    ['80', 80],
    ['5000', 5000],
    ['65535', 65535],
    [' 8080 ', 8080],
  ])('parses %j as %d', (v, port) => {
    expect(parsePort('X', v)).toBe(port);
  });
  it.each(['0', '65536', '-1', '80.5', 'http', '1e3', '0x50', '', '8080a'])('rejects %j naming the variable and range', (v) => {
    const err = settingsError(() => parsePort('PORT', v));
    expect(err.variable).toBe('PORT');
    expect(err.message).toContain('PORT');
    expect(err.message).toContain('1 to 65535');
  });
});

describe('parseServerAddr', () => {
  it.each(['localhost:9701', 'waypoint.example.com:9701', '127.0.0.1:1', '[::1]:9701', '[fe80::1]:65535', ' host:80 '])(
    'accepts %j',
    (v) => {
      expect(parseServerAddr('X', v)).toBe(v.trim());
    },
  );
  it.each(['localhost', 'localhost:', ':9701', 'host:0', 'host:65536', 'host:port', '::1:9701', 'http://host:9701', 'a b:1', 'host:80/x', ''])(
    'rejects %j naming the variable and the form host:port',
    (v) => {
      const err = settingsError(() => parseServerAddr('WAYPOINT_SERVER_ADDR', v));
      expect(err.message).toContain('WAYPOINT_SERVER_ADDR');
      expect(err.message).toContain('host:port');
    },
  );
});

describe('parseServerAddr with several servers (replicas)', () => {
  it('keeps them in order, trimmed and without duplicates; serverList splits them back', () => {
    expect(parseServerAddr('X', ' a.example:9701 , [::1]:9701,b:1 ')).toBe('a.example:9701,[::1]:9701,b:1');
    expect(parseServerAddr('X', 'a:1,b:2,a:1')).toBe('a:1,b:2');
    expect(serverList(parseServerAddr('X', 'a:1, b:2'))).toEqual(['a:1', 'b:2']);
    expect(serverList(parseServerAddr('X', 'a:1'))).toEqual(['a:1']);
  });
  it.each(['a:1,', ',a:1', 'a:1,,b:2', 'a:1,b', 'a:1;b:2'])('rejects %j, naming the list form', (v) => {
    const err = settingsError(() => parseServerAddr('WAYPOINT_SERVER_ADDR', v));
    expect(err.message).toContain('WAYPOINT_SERVER_ADDR');
    expect(err.message).toContain('separated by commas');
  });
});

describe('loadSettings', () => {
  it('gives the documented defaults for an empty environment', () => {
    expect(loadSettings({})).toEqual({
      serverAddr: undefined,
      serverTls: false,
      serverTlsSkipVerify: false,
      serverTlsCaFile: undefined,
      inviteToken: undefined,
      deploymentId: undefined,
      disable: false,
      disableExec: false,
      serverRequired: false,
      logLevel: 'info',
      logFormat: 'text',
      port: 5000,
      connectTimeoutMs: 5000,
      stopTimeoutMs: 30_000,
      restartJitterMs: 0,
      logBufferBytes: 1024 * 1024,
      signalGroup: false,
      subreaper: false,
      nativeDir: undefined,
      fileRoot: undefined,
    });
  });

  it('reads every variable', () => {
    const s = loadSettings({
      WAYPOINT_SERVER_ADDR: 'wp.example.com:9701',
      WAYPOINT_SERVER_TLS: 'true',
      WAYPOINT_SERVER_TLS_SKIP_VERIFY: 'yes',
      WAYPOINT_SERVER_TLS_CA_FILE: '/etc/ca.pem',
      WAYPOINT_CEB_INVITE_TOKEN: 'tok',
      WAYPOINT_DEPLOYMENT_ID: 'dep-1',
      WAYPOINT_CEB_DISABLE: '0',
      WAYPOINT_CEB_DISABLE_EXEC: '1',
      WAYPOINT_CEB_SERVER_REQUIRED: 'YES',
      WAYPOINT_LOG_LEVEL: 'debug',
      WAYPOINT_LOG_FORMAT: 'JSON',
      PORT: '8080',
      WAYPOINT_CEB_CONNECT_TIMEOUT: '2s',
      WAYPOINT_CEB_STOP_TIMEOUT: '500ms',
      WAYPOINT_CEB_RESTART_JITTER: '1m',
      WAYPOINT_CEB_LOG_BUFFER: '2MiB',
      WAYPOINT_CEB_SIGNAL_GROUP: 'true',
      WAYPOINT_CEB_SUBREAPER: '1',
      WAYPOINT_CEB_NATIVE_DIR: '/var/lib/x',
      WAYPOINT_CEB_FILE_ROOT: '/app/config',
    });
    expect(s).toEqual({
      serverAddr: 'wp.example.com:9701',
      serverTls: true,
      serverTlsSkipVerify: true,
      serverTlsCaFile: '/etc/ca.pem',
      inviteToken: 'tok',
      deploymentId: 'dep-1',
      disable: false,
      disableExec: true,
      serverRequired: true,
      logLevel: 'debug',
      logFormat: 'json',
      port: 8080,
      connectTimeoutMs: 2000,
      stopTimeoutMs: 500,
      restartJitterMs: 60_000,
      logBufferBytes: 2 * 1024 * 1024,
      signalGroup: true,
      subreaper: true,
      nativeDir: '/var/lib/x',
      fileRoot: '/app/config',
    });
  });

  it('treats an empty value as unset, as a shell does', () => {
    const s = loadSettings({
      WAYPOINT_SERVER_ADDR: '',
      WAYPOINT_CEB_DISABLE: '',
      WAYPOINT_CEB_STOP_TIMEOUT: '',
      PORT: '',
      WAYPOINT_LOG_LEVEL: '',
      WAYPOINT_CEB_INVITE_TOKEN: '',
    });
    expect(s.serverAddr).toBeUndefined();
    expect(s.disable).toBe(false);
    expect(s.stopTimeoutMs).toBe(30_000);
    expect(s.port).toBe(5000);
    expect(s.logLevel).toBe('info');
    expect(s.inviteToken).toBeUndefined();
  });

  it.each([
    ['WAYPOINT_SERVER_ADDR', 'nohostport', 'host:port'],
    ['WAYPOINT_SERVER_TLS', 'on', 'true/false'],
    ['WAYPOINT_SERVER_TLS_SKIP_VERIFY', 'off', 'true/false'],
    ['WAYPOINT_CEB_DISABLE', 'maybe', 'yes/no'],
    ['WAYPOINT_CEB_DISABLE_EXEC', '2', 'yes/no'],
    ['WAYPOINT_CEB_SERVER_REQUIRED', 'sure', 'yes/no'],
    ['WAYPOINT_LOG_LEVEL', 'loud', 'trace'],
    ['PORT', '0', '1 to 65535'],
    ['WAYPOINT_CEB_CONNECT_TIMEOUT', '5', '500ms'],
    ['WAYPOINT_CEB_STOP_TIMEOUT', 'abc', '500ms'],
    ['WAYPOINT_CEB_RESTART_JITTER', '1 s', '500ms'],
    ['WAYPOINT_CEB_LOG_BUFFER', 'lots', 'MiB'],
    ['WAYPOINT_CEB_SIGNAL_GROUP', 'group', 'yes/no'],
    ['WAYPOINT_CEB_SUBREAPER', 'y', 'yes/no'],
    ['WAYPOINT_CEB_FILE_ROOT', 'config', 'an absolute directory path'],
  ])('rejects %s=%j with a one-line error naming it', (name, value, accepted) => {
    const err = settingsError(() => loadSettings({ [name]: value }));
    expect(err.variable).toBe(name);
    expect(err.value).toBe(value);
    expect(err.accepted).toContain(accepted);
    expect(err.message).toContain(`${name}=`);
    expect(err.message).toContain(accepted);
    expect(err.message).not.toContain('\n');
  });

  it('is connected only with a server address and not disabled', () => {
    expect(isConnected(loadSettings({}))).toBe(false);
    expect(isConnected(loadSettings({ WAYPOINT_SERVER_ADDR: 'h:1' }))).toBe(true);
    expect(isConnected(loadSettings({ WAYPOINT_SERVER_ADDR: 'h:1', WAYPOINT_CEB_DISABLE: '1' }))).toBe(false);
    expect(isConnected(loadSettings({ WAYPOINT_CEB_DISABLE: '0' }))).toBe(false);
  });
});
