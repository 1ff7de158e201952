// server/instances/ owns the live instances, in memory only: each one exists exactly as long
// as its config stream, and every other part (config pushes, exec, URLs, logs) finds them here.
//
// The live instances: one entry per open EntrypointConfig stream, kept in memory only (an
// instance exists exactly as long as its stream). Each entry holds the stream's sink, so that
// "push new config to every instance of app X" is a loop over `ofApp(X)`.
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { DEFAULT_INSTANCE_LIMITS } from '../options.js';
import { invalidArgument, RpcError, Status } from '../rpc/status.js';

/** Longest instance id taken: ours are 26-character ULIDs; ids end up in every log line. */
export const MAX_INSTANCE_ID_LENGTH = 128;
/** What an instance id may hold: nothing that a terminal or a log line would take as markup. */
const INSTANCE_ID = /^[A-Za-z0-9][A-Za-z0-9._:@+=-]*$/;

/** Refuses an id that is too long or holds other characters (INVALID_ARGUMENT), quoting a bounded part. */
export function checkInstanceId(id: string, where: string): void {
  if (id.length > MAX_INSTANCE_ID_LENGTH) {
    throw invalidArgument(`${where}: the instance id is ${id.length} characters long, more than the ${MAX_INSTANCE_ID_LENGTH} allowed`);
  }
  if (!INSTANCE_ID.test(id)) {
    throw invalidArgument(`${where}: invalid instance id ${JSON.stringify(id)}: letters, digits and . _ : @ + = - only, starting with a letter or digit`);
  }
}

export interface InstanceLimits {
  /** Live instances per deployment at most. */
  perDeployment: number;
  /** Live instances per entrypoint token at most. */
  perToken: number;
}


export interface InstanceInfo {
  id: string;
  deploymentId: string;
  app: string;
  /** LONG_RUNNING, ON_DEMAND or VIRTUAL, as registered. */
  type: string;
  execDisabled: boolean;
  /** ms since the epoch */
  connectedSince: number;
  /** host:port of the entrypoint's connection, as this server saw it. */
  remoteAddress: string;
  /** The token that registered it: the only one that may ship its logs. */
  tokenId: string;
  /** What the entrypoint last reported of its app on this stream (api/status/service.ts). */
  status?: InstanceStatus;
  /** How its dynamic config vars resolve, as it last reported (never values). */
  configStatus?: { vars: DynamicVarState[]; reportedAt: number };
  /** Its URL tunnel is registered: the ingress of any replica can send it requests (through this one's). */
  urlTunnel?: boolean;
}

export interface DynamicVarState {
  name: string;
  source: string;
  ok: boolean;
  /** Bounded; the backend's answer, never a value. */
  message: string;
  /** ms since the epoch; undefined: never read well. */
  resolvedAt?: number;
}

export interface InstanceStatus {
  state: 'RUNNING' | 'CONFIG_REFUSED' | 'RESTART_FAILED';
  /** Bounded (MAX_STATUS_MESSAGE_BYTES); names, never values. */
  message: string;
  /** ms since the epoch */
  since: number;
}

/** The server end of an instance's config stream. */
export interface ConfigSink {
  send(response: EntrypointConfigResponse): void;
  /** Ends the stream with an error status; the entrypoint reconnects. */
  close(error: RpcError): void;
}

export interface LiveInstance {
  info: InstanceInfo;
  sink: ConfigSink;
}

export interface InstanceFilter {
  app?: string;
  deploymentId?: string;
}

/** A change of the live instances: one registered, its status changed, its stream gone. */
export interface InstanceChange {
  kind: 'added' | 'updated' | 'removed';
  info: InstanceInfo;
}

export type InstanceListener = (change: InstanceChange) => void;

export class InstanceRegistry {
  private readonly live = new Map<string, LiveInstance>();
  /** Told synchronously of every change (the console's live view); must not throw or block. */
  private readonly listeners = new Set<InstanceListener>();
  /** Live instances per deployment id and per token id: the limits, without walking a fleet. */
  private readonly counts = { deployment: new Map<string, number>(), token: new Map<string, number>() };

  constructor(private readonly limits: InstanceLimits = DEFAULT_INSTANCE_LIMITS) {}

  /**
   * Registers an instance and returns its removal, which is a no-op once a newer registration
   * of the same id has replaced it (an entrypoint reconnecting before its old stream is noticed
   * dead). Throws ALREADY_EXISTS when the id is live in another deployment, RESOURCE_EXHAUSTED
   * when a new id would pass the live instances allowed per deployment or per token (M4).
   */
  add(info: InstanceInfo, sink: ConfigSink): () => void {
    const previous = this.live.get(info.id);
    if (previous && previous.info.deploymentId !== info.deploymentId) {
      throw new RpcError(
        Status.ALREADY_EXISTS,
        `instance id ${info.id} is already registered by deployment ${previous.info.deploymentId}: use a fresh instance id`,
      );
    }
    if (!previous) this.checkLimits(info);
    const entry: LiveInstance = { info, sink };
    this.live.set(info.id, entry);
    if (previous) this.count(previous.info, -1);
    this.count(info, +1);
    previous?.sink.close(new RpcError(Status.ABORTED, `instance ${info.id} registered again on a newer stream`));
    this.emit({ kind: 'added', info });
    return () => {
      if (this.live.get(info.id) !== entry) return;
      this.live.delete(info.id);
      this.count(info, -1);
      this.emit({ kind: 'removed', info });
    };
  }

  /** Returns the removal. */
  onChange(listener: InstanceListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Something of a live instance changed in place (its status). */
  changed(id: string): void {
    const entry = this.live.get(id);
    if (entry) this.emit({ kind: 'updated', info: entry.info });
  }

  private emit(change: InstanceChange): void {
    for (const listener of [...this.listeners]) listener(change);
  }

  private count(info: InstanceInfo, by: 1 | -1): void {
    for (const [counts, key] of [[this.counts.deployment, info.deploymentId], [this.counts.token, info.tokenId]] as const) {
      const n = (counts.get(key) ?? 0) + by;
      if (n > 0) counts.set(key, n);
      else counts.delete(key);
    }
  }

  private checkLimits(info: InstanceInfo): void {
    const ofDeployment = this.counts.deployment.get(info.deploymentId) ?? 0;
    const ofToken = this.counts.token.get(info.tokenId) ?? 0;
    const full = (count: number, what: string, flag: string) =>
      new RpcError(
        Status.RESOURCE_EXHAUSTED,
        `${what} has ${count} live instances, the most allowed: stop some, or raise the limit (waypoint-ctl server run ${flag})`,
      );
    if (ofDeployment >= this.limits.perDeployment) {
      throw full(ofDeployment, `deployment ${info.deploymentId}`, '--max-instances-per-deployment');
    }
    if (ofToken >= this.limits.perToken) throw full(ofToken, 'this token', '--max-instances-per-token');
  }

  get(id: string): LiveInstance | undefined {
    return this.live.get(id);
  }

  /** Oldest connection first. */
  list(filter: InstanceFilter = {}): InstanceInfo[] {
    return [...this.live.values()]
      .map((e) => e.info)
      .filter((i) => (!filter.app || i.app === filter.app) && (!filter.deploymentId || i.deploymentId === filter.deploymentId))
      .sort((a, b) => a.connectedSince - b.connectedSince || a.id.localeCompare(b.id));
  }

  /** The apps with live instances. */
  apps(): string[] {
    const apps = new Set<string>();
    for (const { info } of this.live.values()) apps.add(info.app);
    return [...apps];
  }

  /** The live instances of an app, with their sinks: where a config change is pushed. */
  ofApp(app: string): LiveInstance[] {
    return [...this.live.values()].filter((e) => e.info.app === app);
  }

  /** Server shutdown: every stream ends with UNAVAILABLE, which entrypoints retry. */
  closeAll(reason: string): void {
    const entries = [...this.live.values()];
    for (const entry of entries) entry.sink.close(new RpcError(Status.UNAVAILABLE, reason));
    this.live.clear();
    this.counts.deployment.clear();
    this.counts.token.clear();
    for (const entry of entries) this.emit({ kind: 'removed', info: entry.info });
  }
}
