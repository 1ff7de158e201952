// What a dynamic config source is to the entrypoint (issue 15): a backend (Vault, Kubernetes,
// Consul, AWS SSM, or `null` for fixed values) that the entrypoint reads itself, inside the
// deployment and with the instance's own credentials, so that the secret never passes through
// the server. The resolver (refresh, de-duplication across variables, the last-good-value error
// policy, status) is common; a source only knows its backend's API. Each source module is loaded
// lazily, only when a config names its type, so disabled and static-only runs load none of it.
import type { Logger } from '../../log.js';

/** One dynamic variable's read: `DynamicVal.config` (e.g. Vault's `path` and `key`). */
export interface DynamicRequest {
  /** The variable's name, for messages only. */
  name: string;
  config: Readonly<Record<string, string>>;
}

/**
 * Why a read failed, which decides what the resolver does with the variable's last good value:
 * - `not-found`: the backend answered that the object or key does not exist: the value is dropped;
 * - `denied`, `transient`, `invalid`: the value is kept (a backend down, a 403 during a token
 *   rotation, a timeout); a variable with no good value yet is left out of the app's env.
 */
export type DynamicFailure = 'not-found' | 'denied' | 'transient' | 'invalid';

export type DynamicResult =
  | { ok: true; value: string }
  | {
      ok: false;
      failure: DynamicFailure;
      /** One line naming what was asked and the backend's answer (a Kubernetes 403 names the
       * service account, verb and resource). Never a secret. */
      message: string;
    };

export interface SourceContext {
  /** Our own environment: a source's usual variables (VAULT_ADDR, CONSUL_HTTP_ADDR…) fill the
   * settings the config source leaves out. */
  env: NodeJS.ProcessEnv;
  logger: Logger;
  /** Ask the resolver to read this source again now: a Consul blocking query returned with a new
   * index, a Vault lease is about to end. Coalesced by the resolver. */
  refresh(): void;
}

export interface DynamicSource {
  /** Reads every request; results are in the order of `requests`. Requests for the same backend
   * object are de-duplicated inside the source (one Vault read per path). Never rejects: a
   * failure is a result. `signal` aborts on shutdown or when a newer config replaces this one. */
  read(requests: readonly DynamicRequest[], signal: AbortSignal): Promise<DynamicResult[]>;
  /** Stops timers, renewals and blocking queries. */
  close(): void;
}

/**
 * Makes a source from its settings: the ConfigSource's `config` for this type (the most
 * specific scope wins), then the type's usual environment variables. Throws SourceSettingsError
 * for settings it cannot use (no address, an unreadable CA file), which the resolver reports as a
 * failure of every variable of that type.
 */
export type SourceFactory = (settings: Readonly<Record<string, string>>, context: SourceContext) => DynamicSource;

/** Told apart by its name, not by instanceof: each lazily loaded source is a bundle of its own
 * (dist/source-<type>.cjs) with its own copy of this class. */
export class SourceSettingsError extends Error {
  override readonly name = 'SourceSettingsError';
}
