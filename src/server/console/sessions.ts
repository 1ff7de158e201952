// The console's sign-in sessions, in this process's memory only (a restart signs everyone out):
// a random id (the cookie's value, kept here only as its hash), the operator token's id it was
// made with, its CSRF token, and when it expires. A session ends at sign-out, at its expiry, and
// when its token is revoked or rotated; its open streams (events, a terminal) end with it.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/** 12 hours, as the cookie's Max-Age says. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
const SWEEP_MS = 60_000;
/** Sessions at most; past it the one expiring first goes (each needs the operator token anyway). */
const MAX_SESSIONS = 10_000;

export interface Session {
  /** The hash of its id: the key it is kept under. */
  readonly key: string;
  readonly tokenId: string;
  readonly csrf: string;
  readonly expiresAt: number;
}

export class ConsoleSessions {
  private readonly byKey = new Map<string, Session>();
  /** What closes each session's open streams when it ends (by session key). */
  private readonly streams = new Map<string, Set<() => void>>();
  /** What closes the open streams of Bearer callers, by token id: ended when the token is revoked. */
  private readonly tokenStreams = new Map<string, Set<() => void>>();

  constructor(
    private readonly ttlMs = SESSION_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {
    // Expired sessions end within a minute, with their streams, even if nothing asks for them.
    setInterval(() => this.sweep(), SWEEP_MS).unref();
  }

  /** A new session of the operator token `tokenId`; its id goes in the cookie and nowhere else. */
  create(tokenId: string): { id: string; session: Session } {
    this.sweep();
    if (this.byKey.size >= MAX_SESSIONS) this.end([...this.byKey.values()].sort((a, b) => a.expiresAt - b.expiresAt)[0].key);
    const id = randomBytes(32).toString('base64url');
    const session: Session = { key: keyOf(id), tokenId, csrf: randomBytes(32).toString('base64url'), expiresAt: this.now() + this.ttlMs };
    this.byKey.set(session.key, session);
    return { id, session };
  }

  /** The live session of a cookie's id; an expired one is ended on the way. */
  get(id: string | undefined): Session | undefined {
    if (!id) return undefined;
    const session = this.byKey.get(keyOf(id));
    if (!session) return undefined;
    if (this.now() >= session.expiresAt) {
      this.end(session.key);
      return undefined;
    }
    return session;
  }

  /** Ends a session and closes its streams. */
  end(key: string): void {
    this.byKey.delete(key);
    const closers = this.streams.get(key);
    this.streams.delete(key);
    for (const close of closers ?? []) close();
  }

  /** Ends every session made with one of these tokens, and closes the Bearer streams of them. */
  endTokens(tokenIds: readonly string[]): number {
    const ids = new Set(tokenIds);
    const ended = [...this.byKey.values()].filter((s) => ids.has(s.tokenId));
    for (const s of ended) this.end(s.key);
    for (const id of ids) {
      const closers = this.tokenStreams.get(id);
      this.tokenStreams.delete(id);
      for (const close of closers ?? []) close();
    }
    return ended.length;
  }

  /** A stream of the session, closed when the session ends; returns the untrack. */
  track(session: Session, close: () => void): () => void {
    return add(this.streams, session.key, close);
  }

  /** A stream opened with a Bearer token, closed when that token is revoked; returns the untrack. */
  trackToken(tokenId: string, close: () => void): () => void {
    return add(this.tokenStreams, tokenId, close);
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Ends the expired sessions (and closes their streams). */
  sweep(): void {
    const now = this.now();
    for (const s of [...this.byKey.values()]) if (now >= s.expiresAt) this.end(s.key);
  }
}

/** Whether a request's X-CSRF-Token is its session's, compared in constant time. */
export function csrfMatches(session: Session, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(session.csrf);
  return a.length === b.length && timingSafeEqual(a, b);
}

function add(map: Map<string, Set<() => void>>, key: string, close: () => void): () => void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(close);
  return () => {
    set.delete(close);
    if (set.size === 0 && map.get(key) === set) map.delete(key);
  };
}

function keyOf(id: string): string {
  return createHash('sha256').update(id).digest('base64url');
}
