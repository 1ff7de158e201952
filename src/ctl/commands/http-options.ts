// The URL service's flags, for `server run` (all of them) and `dev` (--http-listen): where the
// HTTP ingress listens (or off), the domain of app URLs, and its limits.
import { type Command, Option } from 'commander';
import { domainProblem } from '../../server/ingress/host.js';
import { ListenError, parseListen } from '../../server/listen.js';
import type { HttpOptions } from '../../server/server.js';
import {
  DEFAULT_HTTP_LISTEN,
  DEFAULT_URL_DOMAIN,
  DEFAULT_URL_MAX_CONCURRENT,
  DEFAULT_URL_REQUEST_TIMEOUT_MS,
} from '../../server/tunnel/urls.js';
import { parseDuration, SettingsError } from '../../settings.js';
import { UsageError } from '../errors.js';

export interface HttpFlags {
  httpListen: string;
  urlDomain?: string;
  urlRequestTimeout?: string;
  urlMaxConcurrent?: string;
}

export function httpListenOption(): Option {
  return new Option('--http-listen <host:port|off>', 'the URL service\'s HTTP ingress (port 0: any free port; off: no URL service)').default(
    DEFAULT_HTTP_LISTEN,
  );
}

export function withHttpOptions(cmd: Command): Command {
  return cmd
    .addOption(httpListenOption())
    .option('--url-domain <domain>', 'apps are at http://<app>.<domain>:<port>/', DEFAULT_URL_DOMAIN)
    .option('--url-request-timeout <duration>', 'time from a request to the app\'s response head, else 504', `${DEFAULT_URL_REQUEST_TIMEOUT_MS / 1000}s`)
    .option('--url-max-concurrent <n>', 'requests in flight per instance, else 503', String(DEFAULT_URL_MAX_CONCURRENT));
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
  let requestTimeoutMs = DEFAULT_URL_REQUEST_TIMEOUT_MS;
  if (flags.urlRequestTimeout !== undefined) {
    try {
      requestTimeoutMs = parseDuration('--url-request-timeout', flags.urlRequestTimeout);
    } catch (err) {
      throw new UsageError((err as SettingsError).message);
    }
    if (requestTimeoutMs < 10) throw new UsageError('--url-request-timeout must be at least 10ms');
  }
  const max = flags.urlMaxConcurrent === undefined ? DEFAULT_URL_MAX_CONCURRENT : Number(flags.urlMaxConcurrent);
  if (!Number.isInteger(max) || max < 1 || max > 1_000_000) {
    throw new UsageError(`--url-max-concurrent must be a whole number from 1, got ${JSON.stringify(flags.urlMaxConcurrent)}`);
  }
  return { listen, domain, requestTimeoutMs, maxConcurrent: max };
}
