// The server's database, as the rest of the server sees it: apps, deployments and token records,
// each app's config vars, and the history of exec sessions. Only these interfaces are imported
// outside store/; SQLite (sqlite/) and PostgreSQL (postgres/, for replicas) implement them,
// chosen in open.ts. Every method is asynchronous (a PostgreSQL query is a round trip); a
// check-then-write that must be atomic is one method here, never two calls by the caller.
import type { ConfigKind } from '../../rules/config.js';
import type { TokenClaims, TokenKind } from '../auth/tokens.js';
import type { StoredVar } from '../config/resolve.js';

export interface Deployment {
  id: string;
  app: string;
  labels: Record<string, string>;
  /** ms since the epoch */
  createdAt: number;
}

export interface TokenRecord {
  id: string;
  kind: TokenKind;
  deploymentId?: string;
  parentId?: string;
  issuedAt: number;
  revokedAt?: number;
  /** Seconds since the epoch; undefined: never. */
  expiresAt?: number;
}

/** A token as `token list` shows it: its record and its deployment's app. */
export interface TokenListing extends TokenRecord {
  app?: string;
}

export interface TokenFilter {
  app?: string;
  deploymentId?: string;
}

export class StoreError extends Error {}

/** How a StoreUnavailable's message starts: the ctl tells it from a server it cannot reach. */
export const STORE_UNAVAILABLE = 'the database is unavailable';

/** The database cannot be reached (PostgreSQL down, the connection lost): one line, retry later. */
export class StoreUnavailable extends Error {
  constructor(readonly reason: string) {
    super(`${STORE_UNAVAILABLE} (${reason}): check that PostgreSQL is running and reachable; the server reconnects by itself`);
  }
}

export interface TokenOptions {
  deploymentId?: string;
  parentId?: string;
  /** An invite's life; undefined: forever. */
  ttlSeconds?: number;
}

/** Apps, deployments and token records. */
export interface Store {
  /** Creates the app when it is new, then a deployment of it. Throws StoreError for an invalid app name. */
  createDeployment(app: string, labels: Record<string, string>): Promise<Deployment>;
  deployment(id: string): Promise<Deployment | undefined>;
  /** Oldest first; every app when `app` is empty. */
  deployments(app?: string): Promise<Deployment[]>;
  /** Records a new token and returns the claims to sign. `ttlSeconds`: an invite's life (undefined: forever). */
  issueToken(kind: TokenKind, opts?: TokenOptions): Promise<TokenClaims>;
  tokens(filter?: TokenFilter): Promise<TokenListing[]>;
  /** How many entrypoint tokens an invite was exchanged for. */
  exchanges(inviteId: string): Promise<number>;
  /** Revokes a token and the tokens exchanged from it; returns the ids revoked now (the token's first, then its children by id). */
  revokeToken(id: string): Promise<string[]>;
  /** A new operator token, every other one revoked, at once. */
  rotateOperator(): Promise<{ claims: TokenClaims; revoked: string[] }>;
  token(id: string): Promise<TokenRecord | undefined>;
  /** The claims of the current operator token, to re-sign it (signing is deterministic). */
  operatorClaims(): Promise<TokenClaims | undefined>;
  /** The current operator token's claims, made at once when there is none (the first start). */
  ensureOperator(): Promise<{ claims: TokenClaims; created: boolean }>;
  /**
   * An entrypoint token for an invite, in one step with its checks: the invite is still valid
   * (not revoked, not expired) and was exchanged fewer than `maxExchanges` times, so that no
   * exchange races a revocation or the limit.
   */
  exchangeInvite(inviteId: string, maxExchanges: number): Promise<Exchange>;
}

export type Exchange = { ok: true; claims: TokenClaims } | { ok: false; reason: 'unknown' | 'revoked' | 'expired' | 'exhausted' };

/** Why an invite's record (read in the exchange's transaction) may not be exchanged now, if it may not. */
export function inviteRefusal(record: TokenRecord | undefined, now: number): 'unknown' | 'revoked' | 'expired' | undefined {
  if (!record || record.kind !== 'invite' || record.deploymentId === undefined) return 'unknown';
  if (record.revokedAt !== undefined) return 'revoked';
  if (record.expiresAt !== undefined && now >= record.expiresAt) return 'expired';
  return undefined;
}

export interface VarChange {
  name: string;
  kind: ConfigKind;
  /** A static value; for a dynamic var, its config as a JSON object. */
  value: Buffer;
  /** Set: a dynamic var, read by the instance from this source type. */
  dynamicFrom?: string;
}

/** A config source's settings in one scope. */
export interface StoredSource {
  /** '' for global. */
  app: string;
  type: string;
  settings: Record<string, string>;
  /** ms since the epoch */
  updatedAt: number;
}

/**
 * The config vars of each scope ('' global, or an app), each app's file change signal, and the
 * config sources' settings of each scope.
 */
export interface ConfigStore {
  vars(app: string): Promise<StoredVar[]>;
  /** All of a change's sets and unsets, or none. */
  apply(app: string, set: VarChange[], unset: string[]): Promise<void>;
  /** The sources of one scope ('' global), by type. */
  sources(app: string): Promise<StoredSource[]>;
  /** Sets (replaces) a source's settings in a scope; an app named is created when new. */
  setSource(app: string, type: string, settings: Record<string, string>): Promise<void>;
  /** Removes a source from a scope; false when it was not set there. */
  unsetSource(app: string, type: string): Promise<boolean>;
  apps(): Promise<string[]>;
  appExists(app: string): Promise<boolean>;
  fileChangeSignal(app: string): Promise<string>;
  setFileChangeSignal(app: string, signal: string): Promise<void>;
}

export type ExecState = 'RUNNING' | 'EXITED' | 'FAILED';

export interface NewExecSession {
  app: string;
  deploymentId: string;
  instanceId: string;
  args: string[];
  tty: boolean;
  operatorTokenId: string;
  operatorAddress: string;
}

export interface ExecRecord extends NewExecSession {
  id: number;
  /** ms since the epoch */
  startedAt: number;
  endedAt?: number;
  state: ExecState;
  /** EXITED: the command's status; FAILED: what the operator was told to exit with, if anything. */
  exitCode?: number;
  error: string;
}

export interface ExecFilter {
  app?: string;
  instanceId?: string;
  limit: number;
}

/** Every exec session: written when it starts and once more when it ends. */
export interface ExecHistory {
  begin(session: NewExecSession, now?: number): Promise<ExecRecord>;
  exited(id: number, code: number, now?: number): Promise<void>;
  failed(id: number, error: string, exitCode?: number, now?: number): Promise<void>;
  get(id: number): Promise<ExecRecord | undefined>;
  list(filter: ExecFilter): Promise<ExecRecord[]>;
  /** At start: sessions a previous run left RUNNING died with it. Returns how many. */
  failRunning(reason: string, now?: number): Promise<number>;
}
