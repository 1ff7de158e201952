// Which exec requests of the config list are new. The server lists every pending request in
// each config, each with an index; we open a stream once per index. The set is per session: a
// server that lost its state (restarted) may hand out the same indexes again, and ours drops
// the pending requests of an instance that disconnected, so a new session starts from nothing.
//
// Ordering: a session's first config can arrive before the session is announced (its config
// stream speaks before openSession returns). The previous session has ended by then (signal
// aborted), so a config that arrives with no live session belongs to the next one: it is held
// and handed over when that session is announced. Nothing is carried over from a session that
// ended: entries it listed may mean something else to the next server.

/** One exec request of the config list, as much of it as the tracking needs. */
export interface ExecEntry {
  index: string;
}

export class ExecIndexes<S, E extends ExecEntry> {
  private current?: { session: S; opened: Set<string> };
  /** The latest list that arrived while no session was live. */
  private held?: readonly E[];

  /** A new session: a fresh set; returns the held entries to open on it. */
  sessionStarted(session: S): Array<E> {
    this.current = { session, opened: new Set() };
    const held = this.held ?? [];
    this.held = undefined;
    return this.fresh(held);
  }

  /** The session ended: its set and anything held go. */
  sessionEnded(session: S): void {
    if (this.current?.session !== session) return;
    this.current = undefined;
    this.held = undefined;
  }

  /** A config's exec list; returns the entries to open now, with the session to open them on. */
  config(entries: readonly E[]): { session: S; entries: E[] } | undefined {
    if (!this.current) {
      this.held = entries;
      return undefined;
    }
    return { session: this.current.session, entries: this.fresh(entries) };
  }

  private fresh(entries: readonly E[]): E[] {
    const opened = this.current!.opened;
    const out: E[] = [];
    for (const entry of entries) {
      if (opened.has(entry.index)) continue;
      opened.add(entry.index);
      out.push(entry);
    }
    return out;
  }
}
