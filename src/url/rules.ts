// The URL service's decisions, pure so they are unit-tested without a network: what a config
// asks of us, which port the app listens on, and how often a refusing app is worth a warning.
import type { EntrypointConfig__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';

/** What the config's url_service asks for. */
export type UrlTarget =
  /** No URL service: no registration. */
  | { kind: 'none' }
  /** Our server's own tunnel (empty control_addr), with the URL token it gave. */
  | { kind: 'register'; token: string }
  /** A Waypoint/Horizon URL service elsewhere: not supported, ignored. */
  | { kind: 'unsupported'; addr: string };

export function urlTarget(config: Pick<EntrypointConfig__Output, 'url_service'>): UrlTarget {
  const service = config.url_service;
  if (!service) return { kind: 'none' };
  const addr = service.control_addr.trim();
  if (addr) return { kind: 'unsupported', addr };
  // Without a token the server could not accept us: asking would only earn a refusal.
  if (!service.token) return { kind: 'none' };
  return { kind: 'register', token: service.token };
}

/**
 * The port the app listens on: its env's PORT (the config may set one) when it is a valid port,
 * else ours (settings.port, which the app gets unless the config overrides it).
 */
export function appPort(env: Record<string, string | undefined>, fallback: number): number {
  const text = env.PORT?.trim();
  if (!text || !/^\d+$/.test(text)) return fallback;
  const port = Number(text);
  return port >= 1 && port <= 65_535 ? port : fallback;
}

/**
 * Counts events and says when one is worth a log line: the first, then at most one per period,
 * with how many happened since the last report. A busy app refusing connections must not flood
 * the logs.
 */
export class ReportLimiter {
  private lastAt?: number;
  private pending = 0;

  constructor(
    private readonly periodMs: number,
    private readonly now: () => number,
  ) {}

  /** Records one event; returns the number to report (this one included), or 0 to stay quiet. */
  record(): number {
    this.pending++;
    const now = this.now();
    if (this.lastAt !== undefined && now - this.lastAt < this.periodMs) return 0;
    this.lastAt = now;
    const count = this.pending;
    this.pending = 0;
    return count;
  }
}

/** gRPC status codes that mean "do not ask again": PERMISSION_DENIED, UNIMPLEMENTED, UNAUTHENTICATED. */
const REFUSALS: ReadonlySet<number> = new Set([7, 12, 16]);

/**
 * How a Register stream's end is handled: a refusal (a server without our tunnel service, such
 * as Waypoint's own, or a token it does not accept) waits for a new config or session; anything
 * else is retried with backoff while the session lives.
 */
export function registerEnd(code: number): 'refused' | 'retry' {
  return REFUSALS.has(code) ? 'refused' : 'retry';
}
