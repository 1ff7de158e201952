// Where the console's session records are kept. One server (SQLite): in its memory, so a restart
// signs everyone out. Replicas (PostgreSQL): in the database (store/postgres/console-sessions.ts),
// so that a session made through one replica is good on every other behind the same balancer.

export interface Session {
  /** The hash of its id: the key it is kept under. */
  readonly key: string;
  readonly tokenId: string;
  readonly csrf: string;
  /** ms since the epoch */
  readonly expiresAt: number;
}

export interface SessionRecords {
  /** Adds a session; past `max`, those expiring first go. Returns the keys evicted. */
  add(session: Session, max: number): Promise<string[]>;
  get(key: string): Promise<Session | undefined>;
  remove(keys: readonly string[]): Promise<void>;
  /** Removes the sessions of these tokens; returns their keys. */
  removeTokens(tokenIds: readonly string[]): Promise<string[]>;
  /** Removes the sessions expired at `now`; returns their keys. */
  removeExpired(now: number): Promise<string[]>;
}

export class MemorySessionRecords implements SessionRecords {
  private readonly byKey = new Map<string, Session>();

  async add(session: Session, max: number): Promise<string[]> {
    const evicted: string[] = [];
    if (this.byKey.size >= max) {
      const soonest = [...this.byKey.values()].sort((a, b) => a.expiresAt - b.expiresAt).slice(0, this.byKey.size - max + 1);
      for (const s of soonest) {
        this.byKey.delete(s.key);
        evicted.push(s.key);
      }
    }
    this.byKey.set(session.key, session);
    return evicted;
  }

  async get(key: string): Promise<Session | undefined> {
    return this.byKey.get(key);
  }

  async remove(keys: readonly string[]): Promise<void> {
    for (const key of keys) this.byKey.delete(key);
  }

  async removeTokens(tokenIds: readonly string[]): Promise<string[]> {
    const ids = new Set(tokenIds);
    return this.removeWhere((s) => ids.has(s.tokenId));
  }

  async removeExpired(now: number): Promise<string[]> {
    return this.removeWhere((s) => now >= s.expiresAt);
  }

  private removeWhere(test: (s: Session) => boolean): string[] {
    const keys = [...this.byKey.values()].filter(test).map((s) => s.key);
    for (const key of keys) this.byKey.delete(key);
    return keys;
  }
}
