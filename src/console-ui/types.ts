// The JSON the server's /api/v1/ routes answer with (CONSOLE-API.md, issue 14).

export type InstanceState = 'connected' | 'disconnected' | 'gone';

export interface Instance {
  id: string;
  app: string;
  deploymentId: string;
  state: InstanceState;
  connectedAt: number | null;
  lastSeenAt: number | null;
  execEnabled: boolean | null;
  logLines: number | null;
  url: string | null;
  config: { restartPending: boolean | null; restartedAt: number | null } | null;
  /** What the instance last reported (RUNNING, CONFIG_REFUSED, RESTART_FAILED), and its message. */
  status?: string | null;
  statusMessage?: string | null;
  /** Replicas (PostgreSQL): the replica the instance is connected to; null on SQLite. */
  replica?: { id: string; address: string; alive: boolean } | null;
}

export interface App {
  name: string;
  deployments: number;
  instances: number;
  connected: number;
}

export interface Deployment {
  id: string;
  app: string;
  labels: Record<string, string>;
  createdAt: number;
}

export type VarKind = 'static' | 'internal' | 'file';

export interface ConfigVar {
  name: string;
  kind: VarKind;
  /** null when internal (masked by the server) or dynamic. */
  value: string | null;
  /** A dynamic var: its source type and own settings (secrets masked by the server). */
  dynamic?: { from: string; config: Record<string, string> };
  scope: string;
  overridden: boolean;
  updatedAt: number;
}

export interface ConfigScope {
  scope: string;
  fileChangeSignal: string;
  vars: ConfigVar[];
}

export interface ExecSession {
  id: string | number;
  app: string;
  deploymentId: string | null;
  instanceId: string | null;
  args: string[];
  tty: boolean;
  startedAt: number | string | null;
  endedAt: number | string | null;
  state: string;
  exitCode: number | null;
  error: string | null;
  operatorAddress: string | null;
}

export interface UrlEntry {
  app: string;
  /** null: the app's URL (its newest live deployment); else this deployment's own. */
  deploymentId?: string | null;
  instanceId: string | null;
  /** How many instances serve it now. */
  instances?: number;
  url: string;
}

export interface LogLine {
  id: string;
  app: string;
  deploymentId: string;
  instanceId: string;
  source: 'app' | 'entrypoint';
  stream: 'stdout' | 'stderr' | null;
  timestamp: number;
  line: string;
}

export interface Session {
  csrf: string;
  expiresAt: number;
}
