// The addresses of the other replicas. Their connections to this ingress carry the requests they
// forward (every client of theirs behind one address), so the per-client connection limit, which
// is there against one client taking every connection, does not apply to them (nor does it to
// trusted proxies). Known from the replicas' advertised hosts, looked up again every few seconds.
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import type { Replicas } from '../replicas/replicas.js';

const REFRESH_MS = 5_000;

export class PeerHosts {
  private hosts = new Set<string>();
  private timer?: NodeJS.Timeout;

  has(address: string | undefined): boolean {
    if (!address || this.hosts.size === 0) return false;
    return this.hosts.has(address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address);
  }

  /** Keeps the set fresh from now on (on a shared database only). */
  watch(replicas: Replicas): void {
    if (!replicas.shared) return;
    const refresh = () => void this.refresh(replicas);
    refresh();
    this.timer = setInterval(refresh, REFRESH_MS);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async refresh(replicas: Replicas): Promise<void> {
    try {
      const others = (await replicas.list()).filter((r) => r.alive && r.id !== replicas.self.id);
      const names = new Set(others.flatMap((r) => [r.grpcAddress, r.httpAddress ?? ''].map(hostOf)).filter((h) => h !== ''));
      const found = await Promise.all([...names].map(async (h) => (isIP(h) ? [h] : (await lookup(h, { all: true }).catch(() => [])).map((a) => a.address))));
      this.hosts = new Set(found.flat());
    } catch {
      // The database away: the last set holds until the next look.
    }
  }
}

/** The host of host:port ([v6]:port too), without brackets. */
function hostOf(address: string): string {
  const i = address.lastIndexOf(':');
  return i < 0 ? '' : address.slice(0, i).replace(/^\[|\]$/g, '');
}
