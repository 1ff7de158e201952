// Leased Vault secrets (a database's dynamic credentials): kept and renewed with
// sys/leases/renew rather than read again, since each read makes new credentials (and so a
// restart of the app). A lease that Vault will not renew, or whose max TTL is near, is let go
// shortly before it ends: the source asks for a refresh, and the next read gets a new secret.
import type { Logger } from '../../../log.js';
import { answerText, numberField, type VaultApi } from './vault-api.js';
import { later } from './shared/results.js';
import { backoffMs, graceMs, planLease, type LeasePlan } from './shared/timing.js';

export interface LeasedSecret {
  leaseId: string;
  leaseSec: number;
  renewable: boolean;
  data: unknown;
}

interface Held extends LeasedSecret {
  expiresAt: number;
  timer?: NodeJS.Timeout;
}

export class LeaseKeeper {
  private readonly held = new Map<string, Held>();
  private readonly closed = new AbortController();

  constructor(
    private readonly api: VaultApi,
    private readonly token: (signal: AbortSignal) => Promise<string | undefined>,
    /** A lease ended: the secret at its path must be read again. */
    private readonly onEnd: (path: string) => void,
    private readonly logger: Logger,
  ) {}

  hold(path: string, secret: LeasedSecret): void {
    this.forget(path);
    const held: Held = { ...secret, expiresAt: Date.now() + secret.leaseSec * 1000 };
    this.held.set(path, held);
    this.plan(path, held, planLease(secret.leaseSec, secret.leaseSec, secret.renewable), 1);
  }

  /** The data of the lease held for `path`, while it is not near its end. */
  data(path: string): unknown {
    const held = this.held.get(path);
    return held && Date.now() < held.expiresAt - graceMs(held.leaseSec) ? held.data : undefined;
  }

  has(path: string): boolean {
    return this.held.has(path);
  }

  forget(path: string): void {
    clearTimeout(this.held.get(path)?.timer);
    this.held.delete(path);
  }

  close(): void {
    this.closed.abort();
    for (const path of [...this.held.keys()]) this.forget(path);
  }

  private plan(path: string, held: Held, plan: LeasePlan, attempt: number): void {
    if (this.closed.signal.aborted) return;
    held.timer = later(plan.inMs, () => {
      if (plan.action === 'replace') this.end(path, 'it cannot be renewed past its max TTL');
      else void this.renew(path, held, attempt);
    });
  }

  private async renew(path: string, held: Held, attempt: number): Promise<void> {
    let failure: string;
    try {
      const token = await this.token(this.closed.signal);
      const answer = await this.api.call('PUT', 'sys/leases/renew', {
        token,
        body: { lease_id: held.leaseId, increment: held.leaseSec },
        signal: this.closed.signal,
      });
      if (this.held.get(path) !== held) return; // forgotten meanwhile
      if (answer.status === 200) {
        const granted = numberField(answer.body, 'lease_duration');
        held.expiresAt = Date.now() + granted * 1000;
        this.logger.debug('renewed a Vault lease', { path, ttl: granted });
        return this.plan(path, held, planLease(held.leaseSec, granted, answer.body?.renewable === true), 1);
      }
      if (answer.status < 500 && answer.status !== 429) return this.end(path, `Vault refused to renew it ${answerText(answer)}`);
      failure = answerText(answer);
    } catch (err) {
      if (this.closed.signal.aborted || this.held.get(path) !== held) return;
      failure = (err as Error).message;
    }
    const wait = backoffMs(attempt, 1000, 30_000);
    if (Date.now() + wait >= held.expiresAt - graceMs(held.leaseSec)) return this.end(path, `renewing it failed: ${failure}`);
    this.logger.warn(`renewing the Vault lease of ${path} failed: ${failure}; trying again in ${Math.round(wait / 1000)} s`);
    this.plan(path, held, { action: 'renew', inMs: wait }, attempt + 1);
  }

  private end(path: string, why: string): void {
    this.forget(path);
    this.logger.info(`the Vault lease of ${path} ends: ${why}; reading the secret anew`);
    this.onEnd(path);
  }
}
