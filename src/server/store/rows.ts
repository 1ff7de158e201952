// The tables' rows as both stores read them (SQLite's and PostgreSQL's schemas have the same
// columns), and what the rest of the server gets made of them.
import type { ConfigKind } from '../../rules/config.js';
import type { TokenKind } from '../auth/tokens.js';
import type { StoredVar } from '../config/resolve.js';
import type { Deployment, ExecRecord, ExecState, StoredSource, TokenRecord } from './store.js';

export interface DeploymentRow {
  id: string;
  app: string;
  labels: string;
  created_at: number;
}

export interface TokenRow {
  id: string;
  kind: TokenKind;
  deployment_id: string | null;
  parent_id: string | null;
  issued_at: number;
  revoked_at: number | null;
  expires_at: number | null;
  app?: string | null;
}

export interface VarRow {
  app: string;
  name: string;
  kind: ConfigKind;
  value: Buffer;
  updated_at: number;
  dynamic_from: string | null;
}

export interface SourceRow {
  app: string;
  type: string;
  settings: string;
  updated_at: number;
}

export interface ExecRow {
  id: number;
  app: string;
  deployment_id: string;
  instance_id: string;
  args: string;
  /** SQLite has no boolean: 0 or 1 there. */
  tty: boolean | number;
  operator_token_id: string;
  operator_address: string;
  started_at: number;
  ended_at: number | null;
  state: ExecState;
  exit_code: number | null;
  error: string;
}

export function toDeployment(row: DeploymentRow): Deployment {
  return { id: row.id, app: row.app, labels: JSON.parse(row.labels) as Record<string, string>, createdAt: row.created_at };
}

export function toToken(row: TokenRow): TokenRecord {
  return {
    id: row.id,
    kind: row.kind,
    issuedAt: row.issued_at,
    ...(row.deployment_id !== null && { deploymentId: row.deployment_id }),
    ...(row.parent_id !== null && { parentId: row.parent_id }),
    ...(row.revoked_at !== null && { revokedAt: row.revoked_at }),
    ...(row.expires_at !== null && { expiresAt: row.expires_at }),
  };
}

export function toStoredVar(r: VarRow): StoredVar {
  return {
    app: r.app,
    name: r.name,
    kind: r.kind,
    value: r.value,
    updatedAt: r.updated_at,
    ...(r.dynamic_from !== null && { dynamicFrom: r.dynamic_from }),
  };
}

export function toStoredSource(r: SourceRow): StoredSource {
  return { app: r.app, type: r.type, settings: JSON.parse(r.settings) as Record<string, string>, updatedAt: r.updated_at };
}

export function toExecRecord(row: ExecRow): ExecRecord {
  return {
    id: row.id,
    app: row.app,
    deploymentId: row.deployment_id,
    instanceId: row.instance_id,
    args: JSON.parse(row.args) as string[],
    tty: row.tty === true || row.tty === 1,
    operatorTokenId: row.operator_token_id,
    operatorAddress: row.operator_address,
    startedAt: row.started_at,
    ...(row.ended_at !== null && { endedAt: row.ended_at }),
    state: row.state,
    ...(row.exit_code !== null && { exitCode: row.exit_code }),
    error: row.error,
  };
}
