// The long-lived link to the server: sessions one after the other, for the life of the process.
// A failed attempt or a lost session is retried with backoff (fast within the connect window,
// exponential after it); the app is never touched by any of this. Later modules subscribe to
// configs and to sessions, and open their own streams on each session's channel.
import { monotonicMs } from '../clock.js';
import { ulid } from '../ids.js';
import type { Logger } from '../log.js';
import type { EntrypointConfigResponse__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { type Settings, serverList } from '../settings.js';
import { Backoff, RECONNECT_POLICY, type Random, WAITING_POLICY } from './backoff.js';
import { checkConfigResponse, describeConfig, type EntrypointConfig } from './config-message.js';
import { channelCredentials, CredentialsError, tlsMode } from './credentials.js';
import { dial } from './dial.js';
import { ConnectionFailure } from './errors.js';
import { type OpenSession, openSession, type Session } from './session.js';

export type ConnectionSettings = Pick<
  Settings,
  'serverTls' | 'serverTlsSkipVerify' | 'serverTlsCaFile' | 'inviteToken' | 'deploymentId' | 'disableExec'
> & { serverAddr: string };

export interface ConnectionOptions {
  settings: ConnectionSettings;
  logger: Logger;
  /** Our package version, sent as client-version. */
  version: string;
  /** This process's instance id, the same across every reconnect (default: a fresh ULID). */
  instanceId?: string;
  /** Until this time (monotonicMs(), src/clock.ts), an unreachable server is retried every ~150 ms. */
  fastUntil: number;
  /** True while the app waits for its first config (server required): retries stay frequent. */
  appWaiting?: () => boolean;
  /** Deadline of each unary call and of the config stream's first answer. */
  deadlineMs?: number;
  random?: Random;
}

export const DEFAULT_DEADLINE_MS = 5_000;
/**
 * A session that lasted this long proved healthy whatever ended it; a shorter one only if it
 * applied a valid config without a fault of ours. Only a healthy session resets the backoff:
 * a server that accepts and then fails at once (a config too big for one message, a crash)
 * is retried ever more slowly, not every half second.
 */
export const HEALTHY_SESSION_MS = 10_000;

export type ConfigListener = (config: EntrypointConfig) => void;
export type SessionListener = (session: Session) => void;

export class Connection {
  readonly instanceId: string;
  /** The first valid config; rejects (CredentialsError) only when no attempt can ever succeed. */
  readonly firstConfig: Promise<EntrypointConfig>;
  private resolveFirst!: (config: EntrypointConfig) => void;
  private rejectFirst!: (err: Error) => void;
  private readonly configListeners = new Set<ConfigListener>();
  private readonly sessionListeners = new Set<SessionListener>();
  private readonly backoff: Backoff;
  private current?: OpenSession;
  /** What the live session has shown so far: a valid config applied, a fault of ours. */
  private health = { configApplied: false, faulted: false };
  /** The last session ended before it proved healthy: a failure streak, told once. */
  private unhealthy = false;
  /** The last refused config's problem: a server repeating it is told once. */
  private lastRefusal?: string;
  /** The entrypoint token: in memory only, never logged, never in any environment. */
  private token?: string;
  private configs = 0;
  private lastReported?: string;
  private closed = false;
  private wake?: () => void;
  /** Aborts the attempt in progress (close() while connecting). */
  private attempt?: AbortController;
  /** Resolves when the loop has ended, after close(): no attempt is made any more. */
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  constructor(private readonly options: ConnectionOptions) {
    this.instanceId = options.instanceId ?? ulid();
    this.backoff = new Backoff(options.random);
    this.firstConfig = new Promise((resolve, reject) => {
      this.resolveFirst = resolve;
      this.rejectFirst = reject;
    });
    this.firstConfig.catch(() => {}); // the orchestrator may not be listening any more
    this.stopped = new Promise((resolve) => (this.resolveStopped = resolve));
  }

  /** Starts connecting in the background. */
  start(): void {
    void this.run().finally(() => this.resolveStopped());
  }

  /** Every valid config, in order; returns an unsubscribe function. */
  onConfig(listener: ConfigListener): () => void {
    this.configListeners.add(listener);
    return () => this.configListeners.delete(listener);
  }

  /**
   * Every session as it is established (the current one at once, if any); returns an
   * unsubscribe function. A listener opens its streams on `session.client` with
   * `session.metadata()` and stops when `session.signal` aborts.
   */
  onSession(listener: SessionListener): () => void {
    this.sessionListeners.add(listener);
    if (this.current) this.notify(listener, this.current.session);
    return () => this.sessionListeners.delete(listener);
  }

  /** The live session, if connected. */
  get session(): Session | undefined {
    return this.current?.session;
  }

  /** Whether our client streams may send inline keepalives (the server asked for them). */
  get inlineKeepalives(): boolean {
    return this.current?.session.inlineKeepalives ?? false;
  }

  /** Ends the session (the server forgets the instance) and stops reconnecting. */
  close(): void {
    this.closed = true;
    this.attempt?.abort();
    this.current?.close();
    this.wake?.();
  }

  /**
   * A fault of ours in the connected parts (the last-resort handler): the session ends, and
   * with it every stream on it, and the next one comes with backoff. The app is not touched.
   */
  dropSession(reason: string): void {
    const open = this.current;
    if (!open) return;
    this.health.faulted = true;
    open.drop(new ConnectionFailure('fault', reason));
  }

  private async run(): Promise<void> {
    const { settings, logger, version } = this.options;
    let credentials;
    try {
      credentials = channelCredentials(settings);
    } catch (err) {
      if (!(err instanceof CredentialsError)) throw err;
      logger.error(`${err.message}; the server connection is off`);
      this.rejectFirst(err);
      return;
    }
    logger.debug('connecting', { server: settings.serverAddr, tls: tlsMode(settings), instance_id: this.instanceId });
    const servers = serverList(settings.serverAddr);
    for (let attempt = 0; !this.closed; attempt++) {
      // Replicas in turn: after a failed attempt or a lost session the next one goes to the next
      // server of the list, so one that is down costs one attempt, not the whole backoff.
      const server = servers[attempt % servers.length]!;
      const client = dial({ addr: server, credentials, version });
      let failure: ConnectionFailure;
      let lost = false;
      try {
        ({ failure, lost } = await this.runSession(client, server));
      } catch (err) {
        failure = err instanceof ConnectionFailure ? err : new ConnectionFailure('rejected', String(err));
      } finally {
        client.close();
      }
      if (this.closed) break;
      if (failure.kind === 'unauthenticated') this.token = undefined; // exchange the invite again
      await this.retryAfter(failure, lost, server);
    }
  }

  /** One session, from dial to its end; resolves with why it ended, and whether it had opened. */
  private async runSession(
    client: Parameters<typeof openSession>[0]['client'],
    server: string,
  ): Promise<{ failure: ConnectionFailure; lost: boolean }> {
    const { settings, logger, version } = this.options;
    this.attempt = new AbortController();
    this.health = { configApplied: false, faulted: false };
    const open = await openSession({
      abort: this.attempt.signal,
      client,
      version,
      deploymentId: settings.deploymentId ?? '',
      instanceId: this.instanceId,
      disableExec: settings.disableExec,
      token: this.token,
      inviteToken: settings.inviteToken,
      deadlineMs: this.options.deadlineMs ?? DEFAULT_DEADLINE_MS,
      onMessage: (message) => this.receive(message),
      onKeepalive: () => logger.trace('inline keepalive dropped', { stream: 'EntrypointConfig' }),
      onToken: (token) => (this.token = token), // exchanged once, kept even if registration fails
      onStreamFault: (error, stream) => this.streamFault(error, stream),
    });
    if (this.closed) {
      open.close();
      return { failure: await open.ended, lost: false };
    }
    const openedAt = monotonicMs();
    this.current = open;
    // A streak of sessions that fail at once is told once, by its first failure.
    (this.unhealthy ? logger.debug : logger.info).call(logger, 'connected to the server', {
      server,
      instance_id: this.instanceId,
      server_version: open.session.serverVersion,
      protocol: open.session.protocolVersion,
    });
    // The session's first config may have come (and faulted) before it was announced.
    if (this.health.faulted) open.drop(new ConnectionFailure('fault', 'applying the config failed'));
    for (const listener of this.sessionListeners) this.notify(listener, open.session);
    const failure = await open.ended;
    this.current = undefined;
    const { configApplied, faulted } = this.health;
    const healthy = monotonicMs() - openedAt >= HEALTHY_SESSION_MS || (configApplied && !faulted);
    if (healthy) {
      this.backoff.reset();
      this.lastReported = undefined;
    }
    this.unhealthy = !healthy;
    return { failure, lost: true };
  }

  /** A config stream message: checked, then handed to every listener; never throws. */
  private receive(message: EntrypointConfigResponse__Output): void {
    const { logger } = this.options;
    let checked;
    try {
      checked = checkConfigResponse(message);
    } catch (err) {
      checked = { ok: false as const, problem: `it cannot be read (${errorText(err)})` };
    }
    if (!checked.ok) {
      const repeated = checked.problem === this.lastRefusal;
      this.lastRefusal = checked.problem;
      (repeated ? logger.debug : logger.warn).call(logger, 'config refused: it breaks the protocol', { problem: checked.problem });
      return;
    }
    this.configs++;
    this.lastRefusal = undefined;
    logger.debug('config received', { count: this.configs, ...describeConfig(checked.config) });
    if (this.configs === 1) this.resolveFirst(checked.config);
    let failed = false;
    for (const listener of this.configListeners) {
      // Each part gets the config even when another one failed on it.
      try {
        listener(checked.config);
      } catch (err) {
        failed = true;
        logger.error('applying the config failed; reconnecting (the app keeps running)', { error: errorText(err) });
      }
    }
    if (failed) this.fault('applying the config failed');
    else this.health.configApplied = true;
  }

  private notify(listener: SessionListener, session: Session): void {
    try {
      listener(session);
    } catch (err) {
      this.options.logger.error('starting the streams of a session failed; reconnecting (the app keeps running)', { error: errorText(err) });
      this.fault('a session listener failed');
    }
  }

  /** A handler on one stream threw: grpc-js's dispatch caught it (guard.ts) and dropped the stream. */
  private streamFault(error: unknown, stream: string): void {
    if (stream === 'EntrypointConfig') this.health.faulted = true;
    this.options.logger.error('a stream handler failed; the stream was dropped (the app keeps running)', {
      stream,
      error: errorText(error),
    });
  }

  /** Our own fault on the config path: the session goes (after dispatch), the next comes with backoff. */
  private fault(reason: string): void {
    this.health.faulted = true;
    const open = this.current;
    // Not announced yet (its first config came with the answer): runSession drops it.
    if (open) open.drop(new ConnectionFailure('fault', reason));
  }

  /**
   * Logs the failure (once per distinct reason, louder when it needs an operator) and waits.
   * `lost`: a session had opened and ended with this failure.
   */
  private async retryAfter(failure: ConnectionFailure, lost: boolean, server: string): Promise<void> {
    const { logger } = this.options;
    const fast = failure.kind === 'unreachable' && monotonicMs() < this.options.fastUntil;
    const policy = this.options.appWaiting?.() ? WAITING_POLICY : RECONNECT_POLICY;
    const delay = this.backoff.next({ fast, policy });
    const fields = { server, reason: failure.message, retry_in_ms: delay };
    // One warning per outage, however its cause is worded from one attempt to the next
    // (refused, reset, timed out); any other failure once per distinct reason.
    const outage = failure.kind === 'unreachable' || failure.kind === 'silent';
    const key = outage ? 'outage' : `${failure.kind}:${failure.message}`;
    // A lost session is news even within the connect window; a refused retry there is not.
    if ((fast && !lost) || key === this.lastReported) {
      logger.debug(lost ? 'lost the server connection; reconnecting' : 'connection attempt failed', fields);
    } else {
      this.lastReported = key;
      if (lost) {
        logger.warn('lost the server connection; reconnecting', fields);
      } else if (failure.kind === 'incompatible') {
        logger.error('incompatible server; the app keeps running without it', fields);
      } else if (failure.kind === 'unauthenticated' || failure.kind === 'rejected') {
        logger.error('the server refused us', fields);
      } else {
        logger.warn('cannot reach the server; retrying in the background', fields);
      }
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delay);
      this.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.wake = undefined;
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
