// The server's database, as the rest of the server sees it: apps, deployments and token records,
// each app's config vars, and the history of exec sessions. Only these interfaces are imported
// outside store/; SQLite (sqlite/) implements them today, and a second backend (PostgreSQL, for
// replicas) is a second implementation of the same interfaces, chosen in server.ts.
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

/** Apps, deployments and token records. */
export interface Store {
  /** Creates the app when it is new, then a deployment of it. Throws StoreError for an invalid app name. */
  createDeployment(app: string, labels: Record<string, string>): Deployment;
  deployment(id: string): Deployment | undefined;
  /** Oldest first; every app when `app` is empty. */
  deployments(app?: string): Deployment[];
  /** Records a new token and returns the claims to sign. `ttlSeconds`: an invite's life (undefined: forever). */
  issueToken(kind: TokenKind, opts?: { deploymentId?: string; parentId?: string; ttlSeconds?: number }): TokenClaims;
  tokens(filter?: TokenFilter): TokenListing[];
  /** How many entrypoint tokens an invite was exchanged for. */
  exchanges(inviteId: string): number;
  /** Revokes a token and the tokens exchanged from it; returns the ids revoked now (the token's first). */
  revokeToken(id: string): string[];
  /** A new operator token, every other one revoked, at once. */
  rotateOperator(): { claims: TokenClaims; revoked: string[] };
  token(id: string): TokenRecord | undefined;
  /** The claims of the current operator token, to re-sign it (signing is deterministic). */
  operatorClaims(): TokenClaims | undefined;
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
  vars(app: string): StoredVar[];
  /** All of a change's sets and unsets, or none. */
  apply(app: string, set: VarChange[], unset: string[]): void;
  /** The sources of one scope ('' global), by type. */
  sources(app: string): StoredSource[];
  /** Sets (replaces) a source's settings in a scope; an app named is created when new. */
  setSource(app: string, type: string, settings: Record<string, string>): void;
  /** Removes a source from a scope; false when it was not set there. */
  unsetSource(app: string, type: string): boolean;
  apps(): string[];
  appExists(app: string): boolean;
  fileChangeSignal(app: string): string;
  setFileChangeSignal(app: string, signal: string): void;
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
  begin(session: NewExecSession, now?: number): ExecRecord;
  exited(id: number, code: number, now?: number): void;
  failed(id: number, error: string, exitCode?: number, now?: number): void;
  get(id: number): ExecRecord | undefined;
  list(filter: ExecFilter): ExecRecord[];
  /** At start: sessions a previous run left RUNNING died with it. Returns how many. */
  failRunning(reason: string, now?: number): number;
}
