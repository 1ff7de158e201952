// Every environment variable of ours, parsed and validated in one place before anything starts.
// A malformed value is a SettingsError: one line naming the variable and the forms it accepts.

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';
/** Our own lines on stderr: `text` for a person, `json` for a log pipeline (pino's format). */
export type LogFormat = 'text' | 'json';

export interface Settings {
  /** host:port of the control server, or several separated by commas (replicas); undefined
   * means disabled mode. */
  serverAddr?: string;
  serverTls: boolean;
  serverTlsSkipVerify: boolean;
  serverTlsCaFile?: string;
  inviteToken?: string;
  deploymentId?: string;
  disable: boolean;
  disableExec: boolean;
  serverRequired: boolean;
  logLevel: LogLevel;
  logFormat: LogFormat;
  /** The app's port, set for the child. */
  port: number;
  connectTimeoutMs: number;
  stopTimeoutMs: number;
  restartJitterMs: number;
  logBufferBytes: number;
  signalGroup: boolean;
  subreaper: boolean;
  nativeDir?: string;
  /** WAYPOINT_CEB_FILE_ROOT: config files go inside it only (absolute). */
  fileRoot?: string;
}

export type Env = Record<string, string | undefined>;

export class SettingsError extends Error {
  constructor(
    readonly variable: string,
    readonly value: string,
    readonly accepted: string,
  ) {
    super(`invalid ${variable}=${JSON.stringify(value)}: expected ${accepted}`);
    this.name = 'SettingsError';
  }
}

const BOOLEAN_FORMS = '1/0, true/false or yes/no';
const DURATION_FORMS = 'a duration such as 500ms, 5s, 2m or 1m30s';
const SIZE_FORMS = 'a size such as 1048576, 512KiB, 1MiB or 2MB';
const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

export function parseBoolean(variable: string, value: string): boolean {
  switch (value.trim().toLowerCase()) {
    case '1':
    case 'true':
    case 'yes':
      return true;
    case '0':
    case 'false':
    case 'no':
      return false;
    default:
      throw new SettingsError(variable, value, BOOLEAN_FORMS);
  }
}

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go-style durations: one or more number+unit pairs (`1m30s`), or a bare `0`. */
export function parseDuration(variable: string, value: string): number {
  const text = value.trim();
  if (text === '0') return 0;
  const pair = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let matched = 0;
  pair.lastIndex = 0;
  while (pair.lastIndex < text.length) {
    const start = pair.lastIndex;
    const m = pair.exec(text);
    if (!m || m.index !== start) throw new SettingsError(variable, value, DURATION_FORMS);
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]];
    matched++;
  }
  if (matched === 0) throw new SettingsError(variable, value, DURATION_FORMS);
  return Math.round(total);
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1000,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1000 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1000 ** 3,
};

/** Bytes, or a number with a unit: KiB/MiB/GiB (and K/M/G) are binary, KB/MB/GB decimal. */
export function parseSize(variable: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new SettingsError(variable, value, SIZE_FORMS);
  return Math.floor(Number(m[1]) * unit);
}

export function parseLogLevel(variable: string, value: string): LogLevel {
  const level = value.trim().toLowerCase();
  if (level === 'warning') return 'warn';
  if ((LOG_LEVELS as readonly string[]).includes(level)) return level as LogLevel;
  throw new SettingsError(variable, value, LOG_LEVELS.join(', '));
}

export function parseLogFormat(variable: string, value: string): LogFormat {
  const format = value.trim().toLowerCase();
  if (format === 'text' || format === 'json') return format;
  throw new SettingsError(variable, value, 'text or json');
}

/** WAYPOINT_LOG_FORMAT when valid, else text: for the lines written before the settings are. */
export function logFormatOf(env: Env): LogFormat {
  try {
    return read(env, 'WAYPOINT_LOG_FORMAT', parseLogFormat, 'text');
  } catch {
    return 'text';
  }
}

export function parsePort(variable: string, value: string): number {
  const text = value.trim();
  const port = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new SettingsError(variable, value, 'a port number from 1 to 65535');
  return port;
}

/** host:port, [ipv6]:port; the port is required because there is no default one to guess. */
function parseOneServerAddr(variable: string, value: string, text: string): string {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\],]+):(\d+)$/.exec(text);
  if (!m || !(Number(m[2]) >= 1 && Number(m[2]) <= 65535)) {
    throw new SettingsError(
      variable,
      value,
      'host:port, such as waypoint.example.com:9701 or [::1]:9701, or several of them separated by commas',
    );
  }
  return text;
}

/**
 * One server, or several (replicas) separated by commas: `a:9701,b:9701`. Kept as one string,
 * trimmed and without duplicates; serverList() splits it for the connection.
 */
export function parseServerAddr(variable: string, value: string): string {
  const list = value.split(',').map((part) => parseOneServerAddr(variable, value, part.trim()));
  return [...new Set(list)].join(',');
}

/** The servers of a WAYPOINT_SERVER_ADDR that parseServerAddr accepted, in the order given. */
export function serverList(serverAddr: string): string[] {
  return serverAddr.split(',');
}

/** A directory given as an absolute path (a relative one would depend on where we were started). */
export function parseAbsolutePath(variable: string, value: string): string {
  if (!value.startsWith('/')) throw new SettingsError(variable, value, 'an absolute directory path, such as /app/config');
  return value;
}

/** Unset and empty both mean "not given", as for a shell variable. */
function given(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

function read<T>(env: Env, name: string, parse: (variable: string, value: string) => T, fallback: T): T {
  const value = given(env, name);
  return value === undefined ? fallback : parse(name, value);
}

export function loadSettings(env: Env): Settings {
  const serverAddr = read<string | undefined>(env, 'WAYPOINT_SERVER_ADDR', parseServerAddr, undefined);
  return {
    serverAddr,
    serverTls: read(env, 'WAYPOINT_SERVER_TLS', parseBoolean, false),
    serverTlsSkipVerify: read(env, 'WAYPOINT_SERVER_TLS_SKIP_VERIFY', parseBoolean, false),
    serverTlsCaFile: given(env, 'WAYPOINT_SERVER_TLS_CA_FILE'),
    inviteToken: given(env, 'WAYPOINT_CEB_INVITE_TOKEN'),
    deploymentId: given(env, 'WAYPOINT_DEPLOYMENT_ID'),
    disable: read(env, 'WAYPOINT_CEB_DISABLE', parseBoolean, false),
    disableExec: read(env, 'WAYPOINT_CEB_DISABLE_EXEC', parseBoolean, false),
    serverRequired: read(env, 'WAYPOINT_CEB_SERVER_REQUIRED', parseBoolean, false),
    logLevel: read(env, 'WAYPOINT_LOG_LEVEL', parseLogLevel, 'info'),
    logFormat: read(env, 'WAYPOINT_LOG_FORMAT', parseLogFormat, 'text'),
    port: read(env, 'PORT', parsePort, 5000),
    connectTimeoutMs: read(env, 'WAYPOINT_CEB_CONNECT_TIMEOUT', parseDuration, 5000),
    stopTimeoutMs: read(env, 'WAYPOINT_CEB_STOP_TIMEOUT', parseDuration, 30_000),
    restartJitterMs: read(env, 'WAYPOINT_CEB_RESTART_JITTER', parseDuration, 0),
    logBufferBytes: read(env, 'WAYPOINT_CEB_LOG_BUFFER', parseSize, 1024 * 1024),
    signalGroup: read(env, 'WAYPOINT_CEB_SIGNAL_GROUP', parseBoolean, false),
    subreaper: read(env, 'WAYPOINT_CEB_SUBREAPER', parseBoolean, false),
    nativeDir: given(env, 'WAYPOINT_CEB_NATIVE_DIR'),
    fileRoot: read<string | undefined>(env, 'WAYPOINT_CEB_FILE_ROOT', parseAbsolutePath, undefined),
  };
}

/** Disabled mode: a plain supervisor with no network, no disk and no gRPC loaded. */
export function isConnected(settings: Settings): boolean {
  return !settings.disable && settings.serverAddr !== undefined;
}
