// The URL service's registration: while the config asks for our server's tunnel and a session
// lives, one Register stream is open on the session's channel; the server asks for each inbound
// connection on it, and each is carried on a Connect stream of its own (carrier.ts).
//
// Everything follows from two inputs, the latest config and the current session (reconcile()):
// a new token re-registers, a removed url_service cancels the registration (connections in
// flight finish on their own streams), a lost session drops it and the next session registers
// again. A refusal (a server without our tunnel, such as Waypoint's own, or a token it does not
// take) is not retried until the config or the session changes; any other end of the stream is
// retried with backoff while the session lives. None of it ever touches the app.
import type { ClientReadableStream, StatusObject } from '@grpc/grpc-js';
import { monotonicMs } from '../clock.js';
import { Backoff, type Random, RECONNECT_POLICY } from '../connection/backoff.js';
import type { Session } from '../connection/session.js';
import type { Logger } from '../log.js';
import type { EntrypointConfig__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { RegisterResponse__Output } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/RegisterResponse.js';
import { grpc } from '../protocol/instance.js';
import { carry } from './carrier.js';
import { registerEnd, ReportLimiter, type UrlTarget, urlTarget } from './rules.js';
import { openRegister } from './wire.js';

/** The app is reached on loopback only: the tunnel is for this instance's own app. */
export const APP_HOST = '127.0.0.1';
/** At most one warning per period about an app that refuses connections. */
const UNREACHABLE_REPORT_MS = 60_000;
/** Bounds the memory of "already warned" (a server could send endless distinct addresses). */
const MAX_REMEMBERED_WARNINGS = 100;

export interface UrlServiceOptions {
  instanceId: string;
  logger: Logger;
  /** The app's port now (see rules.ts appPort). */
  port(): number;
  host?: string;
  random?: Random;
  /** A monotonic clock in ms, for the rate of warnings. */
  now?: () => number;
}

interface Registration {
  session: Session;
  token: string;
  /** The open Register stream; none while waiting to retry. */
  call?: ClientReadableStream<RegisterResponse__Output>;
  timer?: NodeJS.Timeout;
}

export class UrlService {
  private target: UrlTarget = { kind: 'none' };
  private session?: Session;
  private registration?: Registration;
  /** The last refusal: not asked again for this session and token. */
  private refused?: { session: Session; token: string };
  private readonly backoff: Backoff;
  private readonly warned = new Set<string>();
  private readonly unreachable: ReportLimiter;
  private lastUrls?: string;
  private closed = false;
  private carrying = 0;

  constructor(private readonly options: UrlServiceOptions) {
    this.backoff = new Backoff(options.random);
    this.unreachable = new ReportLimiter(UNREACHABLE_REPORT_MS, options.now ?? monotonicMs);
  }

  /** Each config, in order: its url_service decides whether we register. */
  applyConfig(config: Pick<EntrypointConfig__Output, 'url_service'>): void {
    const target = urlTarget(config);
    if (target.kind === 'unsupported') {
      this.warnOnce(
        `addr:${target.addr}`,
        `URL service at ${target.addr} is not supported (only this server's own tunnel); ignored`,
        {},
      );
    }
    this.target = target;
    this.reconcile();
  }

  /** Each new session: registrations live on it until it ends. */
  attach(session: Session): void {
    this.session = session;
    session.signal.addEventListener(
      'abort',
      () => {
        if (this.session === session) this.session = undefined;
        this.reconcile();
      },
      { once: true },
    );
    this.reconcile();
  }

  /** At shutdown: withdraw from the URLs at once, so that no new request comes to a stopping app. */
  close(): void {
    this.closed = true;
    this.reconcile();
  }

  /** Whether a Register stream is open now (tests, debugging). */
  get registered(): boolean {
    return this.registration?.call !== undefined;
  }

  /** Connections being carried now. */
  get connections(): number {
    return this.carrying;
  }

  private wantedToken(): string | undefined {
    if (this.closed || !this.session || this.session.signal.aborted) return undefined;
    return this.target.kind === 'register' ? this.target.token : undefined;
  }

  private reconcile(): void {
    const token = this.wantedToken();
    const current = this.registration;
    if (current && (current.session !== this.session || current.token !== token)) {
      const why =
        current.session !== this.session
          ? 'session ended'
          : this.closed
            ? 'the app is stopping'
            : token === undefined
              ? 'no URL service in the config'
              : 'new URL token';
      this.stop(current, why);
    }
    const session = this.session;
    if (this.registration || token === undefined || !session) return;
    if (this.refused && this.refused.session === session && this.refused.token === token) return;
    this.refused = undefined;
    this.backoff.reset();
    this.registration = { session, token };
    this.open(this.registration);
  }

  private stop(registration: Registration, why: string): void {
    this.registration = undefined;
    clearTimeout(registration.timer);
    const call = registration.call;
    registration.call = undefined;
    call?.cancel();
    // A session's end is the connection's news, already logged; a withdrawal is ours.
    if (why === 'session ended') this.options.logger.debug('URL service registration gone with the session');
    else this.options.logger.info('URL service registration withdrawn', { reason: why });
  }

  private open(registration: Registration): void {
    const { session, token } = registration;
    const port = this.options.port();
    const call = openRegister(session.client, { instance_id: this.options.instanceId, token, port }, session.metadata());
    registration.call = call;
    this.options.logger.debug('registering with the URL service', { port });
    call.on('data', (message: RegisterResponse__Output) => {
      if (registration.call === call) this.receive(registration, message);
    });
    call.on('error', () => {}); // the status says it all; 'error' only needs a listener
    call.on('status', (status: StatusObject) => this.ended(registration, call, status));
  }

  private receive(registration: Registration, message: RegisterResponse__Output): void {
    const { logger } = this.options;
    switch (message.event) {
      case 'registered': {
        this.backoff.reset();
        const urls = (message.registered?.urls ?? []).join(' ');
        // Once per distinct set: a reconnect that brings the same URLs back is no news.
        if (urls !== this.lastUrls) logger.info('URL service registered', { urls: urls || '(none)' });
        else logger.debug('URL service registered again', { urls });
        this.lastUrls = urls;
        return;
      }
      case 'open': {
        const connectionId = message.open?.connection_id;
        if (connectionId) this.accept(registration.session, connectionId);
        return;
      }
      case 'ping':
        logger.trace('URL service ping');
        return;
    }
  }

  private accept(session: Session, connectionId: string): void {
    const { logger } = this.options;
    const port = this.options.port();
    this.carrying++;
    void carry({
      client: session.client,
      metadata: session.metadata(),
      instanceId: this.options.instanceId,
      connectionId,
      host: this.options.host ?? APP_HOST,
      port,
      logger,
      onUnreachable: (error) => {
        const count = this.unreachable.record();
        if (count > 0) {
          logger.warn('URL requests cannot reach the app: it does not accept connections', {
            address: `${this.options.host ?? APP_HOST}:${port}`,
            error,
            failures: count,
          });
        }
      },
    }).finally(() => this.carrying--);
  }

  private ended(registration: Registration, call: ClientReadableStream<RegisterResponse__Output>, status: StatusObject): void {
    if (registration.call !== call) return; // cancelled by us (stop), or superseded
    registration.call = undefined;
    if (this.registration !== registration || registration.session.signal.aborted) return;
    const { logger } = this.options;
    const code = grpc.status[status.code] ?? String(status.code);
    const reason = status.details || code;
    if (registerEnd(status.code) === 'refused') {
      this.registration = undefined;
      this.refused = { session: registration.session, token: registration.token };
      this.warnOnce(`refused:${code}:${reason}`, 'the server refused the URL service registration; not asking again until the config or the connection changes', {
        code,
        reason,
      });
      return;
    }
    const delay = this.backoff.next({ policy: RECONNECT_POLICY });
    // The backoff starts over with each registration and each `registered`: its attempts are
    // this registration's failures since.
    const first = this.backoff.attempts === 1;
    const fields = { code, reason, after_ms: delay };
    registration.timer = setTimeout(() => {
      registration.timer = undefined;
      if (this.registration !== registration) return;
      // Said only now: when the whole connection went down (a server restart), the session's
      // end has withdrawn the registration meanwhile and the connection's warning says it all.
      if (first) logger.warn('URL service registration ended; registering again', fields);
      else logger.debug('URL service registration failed again; registering again', fields);
      this.open(registration);
    }, delay);
    registration.timer.unref();
  }

  private warnOnce(key: string, message: string, fields: Record<string, string>): void {
    if (this.warned.has(key)) return;
    if (this.warned.size >= MAX_REMEMBERED_WARNINGS) this.warned.clear();
    this.warned.add(key);
    this.options.logger.warn(message, fields);
  }
}
