// Who must hear at once that tokens were revoked (a rotation of the operator token, a revoke):
// the console's sessions made with them end, and their open streams close. The token's record
// stays the rule (every request checks it); this only spares a stream its next check. Console
// sessions signed out on another replica are told here too (by their keys), for their streams.
export type RevocationListener = (tokenIds: readonly string[]) => void;
export type SessionEndListener = (sessionKeys: readonly string[]) => void;

export class Revocations {
  private readonly listeners = new Set<RevocationListener>();
  private readonly sessionListeners = new Set<SessionEndListener>();

  /** Returns the removal. */
  onSessionsEnded(listener: SessionEndListener): () => void {
    this.sessionListeners.add(listener);
    return () => this.sessionListeners.delete(listener);
  }

  sessionsEnded(keys: readonly string[]): void {
    if (keys.length === 0) return;
    for (const listener of [...this.sessionListeners]) listener(keys);
  }

  /** Returns the removal. */
  on(listener: RevocationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  revoked(tokenIds: readonly string[]): void {
    if (tokenIds.length === 0) return;
    for (const listener of [...this.listeners]) listener(tokenIds);
  }
}
