// The URL service's flags, for `server run` (all of them) and `dev` (--http-listen): where the
// HTTP ingress listens (or off), the domain of app URLs, its timeouts and limits, and the
// proxies in front of it whose forwarded headers are trusted.
import { type Command, Option } from 'commander';
import path from 'node:path';
import { ListenError, parseListen } from '../../rules/listen.js';
import { domainProblem, parseTrustedProxies, TrustedProxyError } from '../../rules/url.js';
import {
  DEFAULT_HTTP_LISTEN,
  DEFAULT_URL_DOMAIN,
  DEFAULT_URL_HEADER_TIMEOUT_MS,
  DEFAULT_URL_KEEPALIVE_TIMEOUT_MS,
  DEFAULT_URL_MAX_CONCURRENT,
  DEFAULT_URL_MAX_CONNECTIONS,
  DEFAULT_URL_MAX_CONNECTIONS_PER_CLIENT,
  DEFAULT_URL_REQUEST_TIMEOUT_MS,
  DEFAULT_URL_UPGRADE_IDLE_TIMEOUT_MS,
  type HttpOptions,
} from '../../server/options.js';
import { parseDuration, SettingsError } from '../../settings.js';
import { UsageError } from '../errors.js';

export interface HttpFlags {
  httpListen: string;
  urlDomain?: string;
  urlRequestTimeout?: string;
  urlMaxConcurrent?: string;
  urlHeaderTimeout?: string;
  urlKeepaliveTimeout?: string;
  urlUpgradeIdleTimeout?: string;
  urlMaxConnections?: string;
  urlMaxConnectionsPerClient?: string;
  trustedProxy?: string;
}

export function httpListenOption(): Option {
  return new Option('--http-listen <host:port|off>', 'the URL service\'s HTTP ingress (port 0: any free port; off: no URL service)').default(
    DEFAULT_HTTP_LISTEN,
  );
}

/** A default duration as the flag takes it: whole minutes as such, else seconds. */
const seconds = (ms: number) => (ms >= 60_000 && ms % 60_000 === 0 ? `${ms / 60_000}m` : `${ms / 1000}s`);

export function withHttpOptions(cmd: Command): Command {
  return cmd
    .addOption(httpListenOption())
    .option('--url-domain <domain>', 'apps are at http://<app>.<domain>:<port>/', DEFAULT_URL_DOMAIN)
    .option('--url-request-timeout <duration>', 'time from a request to the app\'s response head, else 504', seconds(DEFAULT_URL_REQUEST_TIMEOUT_MS))
    .option('--url-max-concurrent <n>', 'requests in flight per instance, else 503', String(DEFAULT_URL_MAX_CONCURRENT))
    .option('--url-header-timeout <duration>', 'time for a client to send a whole request head, else 408 and closed', seconds(DEFAULT_URL_HEADER_TIMEOUT_MS))
    .option('--url-keepalive-timeout <duration>', 'how long an idle kept-alive client connection stays open', seconds(DEFAULT_URL_KEEPALIVE_TIMEOUT_MS))
    .option('--url-upgrade-idle-timeout <duration>', 'a WebSocket (upgraded) connection with no bytes either way this long is closed', seconds(DEFAULT_URL_UPGRADE_IDLE_TIMEOUT_MS))
    .option(
      '--url-max-connections <n>',
      `client connections open at once, in all; lowered to half the open-file limit, so that gRPC keeps some (default: ${DEFAULT_URL_MAX_CONNECTIONS})`,
    )
    .option('--url-max-connections-per-client <n>', 'client connections open at once from one address (trusted proxies aside)', String(DEFAULT_URL_MAX_CONNECTIONS_PER_CLIENT))
    .option(
      '--trusted-proxy <cidr,...>',
      'proxies in front whose X-Forwarded-For/-Proto/-Host are kept (appended to); from anyone else they are replaced (default: none)',
    );
}

export interface ConsoleFlags {
  console: string;
  consoleDir?: string;
}

/** --console and --console-dir, for `server run` and `dev`. */
export function withConsoleOptions(cmd: Command): Command {
  return cmd
    .option('--console <on|off>', "the web console on the HTTP listener's bare host (http://localhost:<port>/)", 'on')
    .option('--console-dir <dir>', "the console's built front end (default: console/ beside this program's bundle, i.e. dist/console)");
}

/** The console's settings; undefined when off (or when there is no HTTP listener to serve it). Throws UsageError. */
export function consoleOptions(flags: ConsoleFlags, http: HttpOptions | undefined): { dir: string } | undefined {
  const value = flags.console.trim().toLowerCase();
  if (value !== 'on' && value !== 'off') throw new UsageError(`--console must be on or off, got ${JSON.stringify(flags.console)}`);
  if (value === 'off' || !http) return undefined;
  return { dir: path.resolve(flags.consoleDir ?? defaultConsoleDir()) };
}

/** The bundle (dist/ctl.cjs) sits beside the front end's build (dist/console/). */
function defaultConsoleDir(): string {
  const here = typeof __dirname === 'string' ? __dirname : path.dirname(process.argv[1] ?? '.');
  return path.join(here, 'console');
}

/** The ingress settings of the flags; undefined for `--http-listen off`. Throws UsageError. */
export function httpOptions(flags: HttpFlags): HttpOptions | undefined {
  if (flags.httpListen.trim().toLowerCase() === 'off') return undefined;
  let listen: string;
  try {
    listen = parseListen(flags.httpListen).bind;
  } catch (err) {
    throw new UsageError(`--http-listen: ${(err as ListenError).message} (or off)`);
  }
  const domain = (flags.urlDomain ?? DEFAULT_URL_DOMAIN).trim().replace(/\.$/, '');
  const problem = domainProblem(domain);
  if (problem) throw new UsageError(`--url-domain: ${problem}`);
  let trustedProxies: string[];
  try {
    trustedProxies = parseTrustedProxies(flags.trustedProxy);
  } catch (err) {
    throw new UsageError(`--trusted-proxy: ${(err as TrustedProxyError).message}`);
  }
  // The default total is fitted to the open-file limit at start; one given is lowered with a warning.
  const maxConnections = flags.urlMaxConnections === undefined ? undefined : count('--url-max-connections', flags.urlMaxConnections, DEFAULT_URL_MAX_CONNECTIONS);
  return {
    listen,
    domain,
    requestTimeoutMs: duration('--url-request-timeout', flags.urlRequestTimeout, DEFAULT_URL_REQUEST_TIMEOUT_MS),
    maxConcurrent: count('--url-max-concurrent', flags.urlMaxConcurrent, DEFAULT_URL_MAX_CONCURRENT),
    headerTimeoutMs: duration('--url-header-timeout', flags.urlHeaderTimeout, DEFAULT_URL_HEADER_TIMEOUT_MS),
    keepAliveTimeoutMs: duration('--url-keepalive-timeout', flags.urlKeepaliveTimeout, DEFAULT_URL_KEEPALIVE_TIMEOUT_MS),
    upgradeIdleTimeoutMs: duration('--url-upgrade-idle-timeout', flags.urlUpgradeIdleTimeout, DEFAULT_URL_UPGRADE_IDLE_TIMEOUT_MS),
    maxConnections,
    maxConnectionsPerClient: count('--url-max-connections-per-client', flags.urlMaxConnectionsPerClient, DEFAULT_URL_MAX_CONNECTIONS_PER_CLIENT),
    trustedProxies,
  };
}

function duration(name: string, flag: string | undefined, fallback: number): number {
  if (flag === undefined) return fallback;
  let ms: number;
  try {
    ms = parseDuration(name, flag);
  } catch (err) {
    throw new UsageError((err as SettingsError).message);
  }
  if (ms < 10) throw new UsageError(`${name} must be at least 10ms`);
  return ms;
}

function count(name: string, flag: string | undefined, fallback: number): number {
  const n = flag === undefined ? fallback : Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 1_000_000) throw new UsageError(`${name} must be a whole number from 1 to 1000000, got ${JSON.stringify(flag)}`);
  return n;
}
