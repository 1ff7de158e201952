// The console's sign-in sessions: a random id (the cookie's value, kept only as its hash), the
// operator token's id it was made with, its CSRF token, and when it expires. The records are
// kept where every server that may get the next request finds them (session-records.ts: this
// process for one server on SQLite, the database for replicas behind one load balancer); the
// open streams of a session (events, a terminal) are this process's. A session ends at
// sign-out, at its expiry, and when its token is revoked or rotated; its streams end with it,
// on every replica (the others are told by the change feed, through Revocations).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { MemorySessionRecords, type Session, type SessionRecords } from './session-records.js';

export type { Session } from './session-records.js';

/** 12 hours, as the cookie's Max-Age says. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const SWEEP_MS = 60_000;
/** Sessions at most; past it the one expiring first goes (each needs the operator token anyway). */
export const MAX_SESSIONS = 10_000;

interface Tracked {
  session: Session;
  closers: Set<() => void>;
}

export class ConsoleSessions {
  /** The open streams of each session here, by session key. */
  private readonly streams = new Map<string, Tracked>();
  /** What closes the open streams of Bearer callers, by token id: ended when the token is revoked. */
  private readonly tokenStreams = new Map<string, Set<() => void>>();
  /** Told of the sessions ended here (sign-out, expiry, revocation): the other replicas close their streams. */
  onEnded: ((keys: string[]) => void) | undefined;

  constructor(
    private readonly records: SessionRecords = new MemorySessionRecords(),
    private readonly ttlMs = SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    // Expired sessions end within a minute, with their streams, even if nothing asks for them.
    setInterval(() => void this.sweep().catch(() => undefined), SWEEP_MS).unref();
  }

  /** A new session of the operator token `tokenId`; its id goes in the cookie and nowhere else. */
  async create(tokenId: string): Promise<{ id: string; session: Session }> {
    const id = randomBytes(32).toString('base64url');
    const session: Session = { key: keyOf(id), tokenId, csrf: randomBytes(32).toString('base64url'), expiresAt: this.now() + this.ttlMs };
    const evicted = await this.records.add(session, MAX_SESSIONS);
    this.closeLocal(evicted);
    return { id, session };
  }

  /** The live session of a cookie's id; an expired one is ended on the way. */
  async get(id: string | undefined): Promise<Session | undefined> {
    if (!id) return undefined;
    const session = await this.records.get(keyOf(id));
    if (!session) return undefined;
    if (this.now() >= session.expiresAt) {
      await this.end(session.key);
      return undefined;
    }
    return session;
  }

  /** Ends a session: its record, its streams here and on the other replicas. */
  async end(key: string): Promise<void> {
    this.closeLocal([key]);
    await this.records.remove([key]);
    this.onEnded?.([key]);
  }

  /** Ends every session made with one of these tokens, and closes the Bearer streams of them; how many records ended. */
  async endTokens(tokenIds: readonly string[]): Promise<number> {
    const ids = new Set(tokenIds);
    // Streams here first: their records may be gone already (removed by the replica that revoked).
    this.closeLocal([...this.streams.values()].filter((t) => ids.has(t.session.tokenId)).map((t) => t.session.key));
    for (const id of ids) {
      const closers = this.tokenStreams.get(id);
      this.tokenStreams.delete(id);
      for (const close of closers ?? []) close();
    }
    return (await this.records.removeTokens([...ids])).length;
  }

  /** Sessions ended on another replica: their streams here close. */
  endedElsewhere(keys: readonly string[]): void {
    this.closeLocal(keys);
  }

  /** A stream of the session, closed when the session ends; returns the untrack. */
  track(session: Session, close: () => void): () => void {
    let tracked = this.streams.get(session.key);
    if (!tracked) this.streams.set(session.key, (tracked = { session, closers: new Set() }));
    const t = tracked;
    t.closers.add(close);
    return () => {
      t.closers.delete(close);
      if (t.closers.size === 0 && this.streams.get(session.key) === t) this.streams.delete(session.key);
    };
  }

  /** A stream opened with a Bearer token, closed when that token is revoked; returns the untrack. */
  trackToken(tokenId: string, close: () => void): () => void {
    let set = this.tokenStreams.get(tokenId);
    if (!set) this.tokenStreams.set(tokenId, (set = new Set()));
    const s = set;
    s.add(close);
    return () => {
      s.delete(close);
      if (s.size === 0 && this.tokenStreams.get(tokenId) === s) this.tokenStreams.delete(tokenId);
    };
  }

  /** Ends the expired sessions: their records, and the streams here of any expired session. */
  async sweep(): Promise<void> {
    const now = this.now();
    this.closeLocal([...this.streams.values()].filter((t) => now >= t.session.expiresAt).map((t) => t.session.key));
    await this.records.removeExpired(now);
  }

  private closeLocal(keys: readonly string[]): void {
    for (const key of keys) {
      const tracked = this.streams.get(key);
      this.streams.delete(key);
      for (const close of tracked?.closers ?? []) close();
    }
  }
}

/** Whether a request's X-CSRF-Token is its session's, compared in constant time. */
export function csrfMatches(session: Session, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
