// What one replica tells the others at once, through PostgreSQL's LISTEN/NOTIFY: an app's config
// changed (its instances there get the new config), tokens were revoked (their streams end).
// A notification is lost while a listen connection is down; so after every reconnection the
// replica resyncs instead (every live app's config, every live instance's token), which is what
// the notifications it missed would have done.
import pg from 'pg';
import type { ServerLog } from '../log.js';
import { type Pool, query } from '../store/postgres/pool.js';

export type ReplicaChange =
  | { kind: 'config'; app: string | null }
  | { kind: 'revoked'; ids: string[] }
  /** Console sessions signed out (their keys, hashes of the cookie): their streams close. */
  | { kind: 'sessions-ended'; keys: string[] };

export interface ChangeHandlers {
  change(change: ReplicaChange): void;
  /** Notifications may have been missed: redo what they would have done. */
  resync(): void;
}

const CHANNEL = 'waypoint_changes';
/** PostgreSQL's payload limit is 8000 bytes: revocations go in chunks of ids well under it. */
const IDS_PER_NOTICE = 200; // ULIDs: 26 characters
const KEYS_PER_NOTICE = 100; // session keys: 43
const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5_000;

export class ChangeFeed {
  private client: pg.Client | undefined;
  private closed = false;
  private retryMs = RETRY_MIN_MS;
  private timer: NodeJS.Timeout | undefined;
  private connectedOnce = false;

  constructor(
    private readonly url: string,
    private readonly pool: Pool,
    private readonly self: string,
    private readonly handlers: ChangeHandlers,
    private readonly log: ServerLog,
  ) {}

  /** Resolves once listening (or after the first failure: it keeps trying in the background). */
  async start(): Promise<void> {
    await this.connect();
  }

  /** Tells the other replicas; a failure is logged (they resync when their own connection drops). */
  async publish(change: ReplicaChange): Promise<void> {
    const payloads =
      change.kind === 'revoked'
        ? chunks(change.ids, IDS_PER_NOTICE).map((ids) => JSON.stringify({ from: this.self, kind: 'revoked', ids }))
        : change.kind === 'sessions-ended'
          ? chunks(change.keys, KEYS_PER_NOTICE).map((keys) => JSON.stringify({ from: this.self, kind: 'sessions-ended', keys }))
          : [JSON.stringify({ from: this.self, ...change })];
    for (const payload of payloads) {
      try {
        await query(this.pool, 'SELECT pg_notify($1, $2)', [CHANNEL, payload]);
      } catch (err) {
        this.log.warn('the other replicas were not told of a change: they see it at their next resync', { change: change.kind, error: (err as Error).message });
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'waypoint-ctl server (listen)' });
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (n) => {
      if (n.channel === CHANNEL) this.received(n.payload ?? '');
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      this.log.warn('replica changes: cannot listen to the database; retrying', { error: (err as Error).message.split('\n')[0] });
      this.lost(client);
      return;
    }
    this.retryMs = RETRY_MIN_MS;
    if (this.connectedOnce) {
      this.log.info('replica changes: listening again; resyncing what may have been missed');
      this.handlers.resync();
    }
    this.connectedOnce = true;
  }

  /** Once per client: it is dropped and a new one tried after a backoff. */
  private lost(client: pg.Client): void {
    if (this.client !== client || this.closed) return;
    this.client = undefined;
    client.end().catch(() => undefined);
    // Missed notifications are made up for at the reconnection; one that comes back at once resyncs too.
    this.connectedOnce = true;
    const wait = this.retryMs;
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.timer = setTimeout(() => void this.connect(), wait);
    this.timer.unref();
  }

  private received(payload: string): void {
    let message: { from?: unknown; kind?: unknown; app?: unknown; ids?: unknown; keys?: unknown };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return this.log.warn('replica changes: an unreadable notification was ignored', { bytes: payload.length });
    }
    if (message.from === this.self) return;
    if (message.kind === 'config' && (message.app === null || typeof message.app === 'string')) {
      this.handlers.change({ kind: 'config', app: message.app });
    } else if (message.kind === 'revoked' && Array.isArray(message.ids) && message.ids.every((id) => typeof id === 'string')) {
      this.handlers.change({ kind: 'revoked', ids: message.ids as string[] });
    } else if (message.kind === 'sessions-ended' && Array.isArray(message.keys) && message.keys.every((k) => typeof k === 'string')) {
      this.handlers.change({ kind: 'sessions-ended', keys: message.keys as string[] });
    } else {
      this.log.warn('replica changes: a notification of an unknown kind was ignored (a newer replica?)', { kind: String(message.kind) });
    }
  }
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}
