// The vault source's token: a static one (token, VAULT_TOKEN), renewed with renew-self before
// it expires when Vault says it is renewable; or one from an AppRole or Kubernetes login,
// renewed likewise, and replaced by a new login when it cannot be renewed (any more).
import { readFileSync } from 'node:fs';
import type { Logger } from '../../../log.js';
import type { DynamicFailure } from '../source.js';
import { answerText, numberField, type VaultAnswer, type VaultApi } from './vault-api.js';
import type { VaultSettings } from './vault-settings.js';
import { RequestError } from './shared/http.js';
import { later } from './shared/results.js';
import { backoffMs, planLease, type LeasePlan } from './shared/timing.js';

export class AuthError extends Error {
  constructor(
    readonly failure: DynamicFailure,
    message: string,
  ) {
    super(message);
  }
}

interface Held {
  token: string;
  /** The TTL Vault granted at login (or the token's creation TTL): what renewals ask for. */
  ttlSec: number;
  expiresAt: number;
}

export class VaultAuth {
  private held?: Held;
  private pending?: Promise<Held>;
  private timer?: NodeJS.Timeout;
  private lookedUp = false;
  private readonly closed = new AbortController();

  constructor(
    private readonly api: VaultApi,
    private readonly s: VaultSettings,
    private readonly logger: Logger,
  ) {}

  private get login(): boolean {
    return this.s.authMethod !== 'token';
  }

  /** The token to send (undefined through a Vault agent, which adds its own), logging in
   * first when there is none. Throws AuthError. */
  async token(signal: AbortSignal): Promise<string | undefined> {
    if (!this.login) {
      if (this.s.token && !this.lookedUp) {
        this.lookedUp = true;
        void this.watchStatic();
      }
      return this.s.token;
    }
    if (this.held && Date.now() < this.held.expiresAt) return this.held.token;
    this.pending ??= this.logIn(signal).finally(() => (this.pending = undefined));
    return (await this.pending).token;
  }

  /** Vault refused `token` (a 403): it may have been revoked. True when a new login may help,
   * the next token() then logs in again. */
  invalidate(token: string | undefined): boolean {
    if (!this.login || this.held?.token !== token) return this.login;
    this.held = undefined;
    return true;
  }

  close(): void {
    this.closed.abort();
    clearTimeout(this.timer);
  }

  private async logIn(signal: AbortSignal): Promise<Held> {
    const where = `auth/${this.s.mountPath}/login`;
    let answer: VaultAnswer;
    try {
      answer = await this.api.call('POST', where, { body: this.credentials(), signal });
    } catch (err) {
      throw new AuthError(err instanceof RequestError && err.kind === 'tls' ? 'invalid' : 'transient', `Vault ${this.s.authMethod} login failed: ${(err as Error).message}`);
    }
    const auth = answer.body?.auth as Record<string, unknown> | undefined;
    if (answer.status !== 200 || typeof auth?.client_token !== 'string') {
      const failure = answer.status >= 500 || answer.status === 429 ? 'transient' : 'denied';
      throw new AuthError(failure, `Vault refused the ${this.s.authMethod} login at ${where} ${answerText(answer)}`);
    }
    const ttlSec = numberField(auth, 'lease_duration');
    const held: Held = { token: auth.client_token, ttlSec, expiresAt: ttlSec > 0 ? Date.now() + ttlSec * 1000 : Infinity };
    this.held = held;
    this.logger.debug(`logged in to Vault with ${this.s.authMethod}`, { ttl: ttlSec, renewable: auth.renewable === true });
    if (ttlSec > 0) this.plan(planLease(ttlSec, ttlSec, auth.renewable === true), 1);
    return held;
  }

  /** The login's body; the Kubernetes token is read anew each time, as projected tokens rotate. */
  private credentials(): Record<string, string> {
    if (this.s.authMethod === 'approle') return { role_id: this.s.roleId!, secret_id: this.s.secretId! };
    let jwt: string;
    try {
      jwt = readFileSync(this.s.kubernetesTokenPath, 'utf8').trim();
    } catch (err) {
      throw new AuthError('invalid', `cannot read the service account token ${this.s.kubernetesTokenPath} for Vault's kubernetes login: ${(err as NodeJS.ErrnoException).code}`);
    }
    return { role: this.s.kubernetesRole!, jwt };
  }

  /** A static token: lookup-self tells whether it expires and can be renewed. A token without
   * the (default policy's) right to look itself up is used as it is. */
  private async watchStatic(): Promise<void> {
    try {
      const answer = await this.api.call('GET', 'auth/token/lookup-self', { token: this.s.token, signal: this.closed.signal });
      const data = answer.body?.data;
      const ttl = numberField(data, 'ttl');
      if (answer.status !== 200 || ttl <= 0) return;
      const creation = numberField(data, 'creation_ttl') || ttl;
      this.held = { token: this.s.token!, ttlSec: creation, expiresAt: Date.now() + ttl * 1000 };
      this.plan(planLease(ttl, ttl, (data as Record<string, unknown>).renewable === true), 1);
    } catch {
      // Vault unreachable now: the reads report it; renewal is not attempted for this token
    }
  }

  private plan(plan: LeasePlan, attempt: number): void {
    clearTimeout(this.timer);
    if (this.closed.signal.aborted) return;
    this.timer = later(plan.inMs, () => void (plan.action === 'renew' ? this.renew(attempt) : this.replace(attempt)));
  }

  private async renew(attempt: number): Promise<void> {
    const held = this.held;
    if (!held) return;
    let answer: VaultAnswer | undefined;
    try {
      answer = await this.api.call('POST', 'auth/token/renew-self', {
        token: held.token,
        body: { increment: `${held.ttlSec}s` },
        signal: this.closed.signal,
      });
    } catch (err) {
      if (this.closed.signal.aborted) return;
      return this.retry(attempt, 'renew', `renewing the Vault token failed: ${(err as Error).message}`);
    }
    const auth = answer.body?.auth as Record<string, unknown> | undefined;
    if (answer.status !== 200 || !auth) {
      if (answer.status >= 500 || answer.status === 429) return this.retry(attempt, 'renew', `renewing the Vault token failed ${answerText(answer)}`);
      this.logger.warn(`Vault refused to renew its token ${answerText(answer)}${this.login ? ': logging in again' : ''}`);
      return this.replace(1);
    }
    const granted = numberField(auth, 'lease_duration');
    held.expiresAt = Date.now() + granted * 1000;
    this.logger.debug('renewed the Vault token', { ttl: granted });
    this.plan(planLease(held.ttlSec, granted, auth.renewable === true), 1);
  }

  /** The token cannot be renewed (any more): log in again before it ends, keeping the old one
   * until the new one is there. A static token can only be reported. */
  private async replace(attempt: number): Promise<void> {
    if (!this.login) {
      const left = Math.max(0, Math.round(((this.held?.expiresAt ?? Date.now()) - Date.now()) / 1000));
      this.logger.warn(`the Vault token cannot be renewed and expires in ${left} s: give the entrypoint a renewable (periodic) token or an auth_method`);
      return;
    }
    try {
      await this.logIn(this.closed.signal);
    } catch (err) {
      if (this.closed.signal.aborted) return;
      this.retry(attempt, 'replace', (err as Error).message);
    }
  }

  /** Tries again after a backoff while the token lasts; once it has ended, the next read logs in. */
  private retry(attempt: number, action: LeasePlan['action'], message: string): void {
    const wait = backoffMs(attempt, 1000, 30_000);
    if (!this.held || Date.now() + wait >= this.held.expiresAt) {
      this.logger.warn(`${message}; the token has ended`);
      if (this.login) this.held = undefined;
      return;
    }
    this.logger.warn(`${message}; trying again in ${Math.round(wait / 1000)} s`);
    this.plan({ action, inMs: wait }, attempt + 1);
  }
}
