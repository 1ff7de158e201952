// server/exec/ owns exec sessions from request to end: what a start may ask (start.ts), which
// instance runs one, the request waiting to be opened, the two calls piped with backpressure
// once it is, and each session's record and log lines (operator.ts).
//
// The exec broker: requests waiting for their instance to open them, and the sessions running.
// A request is an entry of its instance's EntrypointConfig exec list (index = its history id)
// until the entrypoint opens EntrypointExecStream for it. Every config an instance gets carries
// its pending list (`withPending`), so a config push for any reason never hides a request; a
// request leaves the list when opened, and needs no push for that. Pending requests fail at once
// when their instance disconnects, after the open timeout, or at shutdown.
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { _hashicorp_waypoint_EntrypointConfig_Exec as ConfigExec } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { EntrypointExecRequest__Output } from '../../protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { EntrypointExecResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointExecResponse.js';
import type { KEEPALIVE } from '../../protocol/keepalive.js';
import type { AppConfig } from '../config/app-config.js';
import { MAX_PENDING_EXEC_BYTES, pendingExecBytes } from '../config/limits.js';
import type { Principal } from '../auth/authenticator.js';
import type { ExecRecord } from '../store/store.js';
import { chooseAcross, chooseInstance, type InstanceLoad, type Placement } from './placement.js';
import type { InstanceRegistry } from '../instances/registry.js';
import type { Replicas } from '../replicas/replicas.js';
import { failedPrecondition, permissionDenied, RpcError, Status } from '../rpc/status.js';

export const DEFAULT_EXEC_OPEN_TIMEOUT_MS = 10_000;

export type EntrypointExecCall = ServerDuplexStream<EntrypointExecRequest__Output | typeof KEEPALIVE, EntrypointExecResponse>;

export interface ExecPty {
  enable: boolean;
  term: string;
  window_size?: { rows: number; cols: number; width: number; height: number };
}

/** A request placed on an instance, waiting for the entrypoint to open it. */
export interface PendingExec {
  record: ExecRecord;
  pty: ExecPty;
  /** The entrypoint opened it: the session is its to run from here. */
  opened(call: EntrypointExecCall): void;
  /** It can never be opened: the instance left, it timed out, the server stops. */
  failed(error: RpcError): void;
}

/** What the broker needs to know of a running session. */
export interface RunningExec {
  instanceId: string;
  /** Server shutdown: end both calls. */
  abort(reason: string): void;
}

interface Waiting {
  pending: PendingExec;
  timer: NodeJS.Timeout;
}

export class ExecBroker {
  /** instance id → exec index → request. */
  private readonly pending = new Map<string, Map<number, Waiting>>();
  private readonly running = new Set<RunningExec>();
  private readonly lastChosen = new Map<string, number>();
  private choices = 0;

  constructor(
    private readonly registry: InstanceRegistry,
    private readonly appConfig: AppConfig,
    private readonly openTimeoutMs = DEFAULT_EXEC_OPEN_TIMEOUT_MS,
  ) {}

  /**
   * The instance a request goes to: the named one, or the best of the app's. With `elsewhere`
   * (replicas sharing the database, a call not forwarded already) the instances connected to the
   * other alive replicas count too. Throws a status.
   */
  async choose(target: { app?: string; instanceId?: string }, elsewhere?: Pick<Replicas, 'locate' | 'remoteInstances'>): Promise<Placement> {
    let chosen: Placement;
    if (target.instanceId) chosen = await this.named(target.instanceId, elsewhere);
    else {
      const app = target.app!;
      if (!(await this.appConfig.appExists(app))) {
        throw new RpcError(Status.NOT_FOUND, `there is no app named ${JSON.stringify(app)} (waypoint-ctl deployment list shows them)`);
      }
      const remote = elsewhere ? (await elsewhere.remoteInstances({ app })).filter((r) => r.replica.alive) : [];
      // Asked after the await: the local list is as fresh as can be.
      chosen = chooseAcross(app, this.registry.list({ app }), remote, (id) => this.load(id));
    }
    this.lastChosen.set('local' in chosen ? chosen.local.id : chosen.remote.info.id, ++this.choices);
    return chosen;
  }

  /** A named instance: connected here, else where another replica says it is connected. */
  private async named(id: string, elsewhere?: Pick<Replicas, 'locate'>): Promise<Placement> {
    const here = this.registry.get(id);
    if (here || !elsewhere) return { local: chooseInstance(id, here?.info) };
    const there = await elsewhere.locate(id);
    if (!there) return { local: chooseInstance(id, this.registry.get(id)?.info) };
    // FAILED_PRECONDITION, not UNAVAILABLE: this server answered (the ctl reads UNAVAILABLE as "cannot reach it").
    if (!there.replica.alive) {
      throw failedPrecondition(
        `instance ${id} is connected to replica ${there.replica.grpcAddress}, which stopped answering: retry once the instance has reconnected to another replica`,
      );
    }
    return { remote: { ...there, info: chooseInstance(id, there.info) } };
  }

  /**
   * Lists a recorded request on its instance and sends the instance its config again with it.
   * It fails at once when the instance left since it was chosen.
   */
  enqueue(pending: PendingExec): void {
    const { instanceId, id } = pending.record;
    const live = this.registry.get(instanceId);
    if (!live || live.info.deploymentId !== pending.record.deploymentId) {
      pending.failed(new RpcError(Status.UNAVAILABLE, `instance ${instanceId} disconnected before it could open the exec session`));
      return;
    }
    // Every config message lists the pending requests: they must leave it within the gRPC limit.
    const waiting = [...(this.pending.get(instanceId)?.values() ?? [])].reduce((n, w) => n + pendingExecBytes(w.pending.record.args), 0);
    if (waiting + pendingExecBytes(pending.record.args) > MAX_PENDING_EXEC_BYTES) {
      pending.failed(
        new RpcError(
          Status.RESOURCE_EXHAUSTED,
          `instance ${instanceId} already has ${waiting} bytes of exec requests waiting to open (at most ${MAX_PENDING_EXEC_BYTES} fit its config message): retry once they have started`,
        ),
      );
      return;
    }
    const timer = setTimeout(() => {
      if (this.drop(instanceId, id)) {
        pending.failed(
          new RpcError(Status.DEADLINE_EXCEEDED, `instance ${instanceId} did not open the exec session within ${formatMs(this.openTimeoutMs)}`),
        );
      }
    }, this.openTimeoutMs);
    let list = this.pending.get(instanceId);
    if (!list) this.pending.set(instanceId, (list = new Map()));
    list.set(id, { pending, timer });
    this.appConfig.resend(live.sink);
  }

  /** The operator left before the instance opened it. True when it was still pending. */
  cancel(instanceId: string, index: number): boolean {
    return this.drop(instanceId, index);
  }

  /**
   * An entrypoint opens `index` on `instanceId`: it must be live and registered by this very
   * token (so no token opens another deployment's session), and the index must be pending there.
   */
  open(instanceId: string, index: string, principal: Principal, call: EntrypointExecCall): void {
    const live = this.registry.get(instanceId);
    if (!live) {
      throw failedPrecondition(`instance ${JSON.stringify(instanceId)} is not registered: open its EntrypointConfig stream before its exec sessions`);
    }
    if (principal.tokenId !== live.info.tokenId) {
      throw permissionDenied(`instance ${instanceId} was registered by another token: this token may open only its own instances' exec sessions`);
    }
    const n = Number(index);
    const waiting = this.pending.get(instanceId)?.get(n);
    if (!waiting) {
      throw new RpcError(Status.NOT_FOUND, `exec session ${index} is not pending on instance ${instanceId} (already opened, ended, or never requested)`);
    }
    this.drop(instanceId, n);
    waiting.pending.opened(call);
  }

  /** Whether an exec request waits for the instance to open it (its config lists it). */
  hasPending(instanceId: string): boolean {
    return (this.pending.get(instanceId)?.size ?? 0) > 0;
  }

  /** Adds the instance's pending requests to a config message bound for it. */
  withPending(instanceId: string, response: EntrypointConfigResponse): EntrypointConfigResponse {
    const list = this.pending.get(instanceId);
    const exec: ConfigExec[] = list
      ? [...list.values()].map(({ pending: p }) => ({ index: String(p.record.id), args: p.record.args, pty: p.pty }))
      : [];
    return { ...response, config: { ...response.config, exec } };
  }

  /** The instance's config stream ended for good: its pending requests can never be opened. */
  instanceGone(instanceId: string): void {
    this.lastChosen.delete(instanceId);
    const list = this.pending.get(instanceId);
    if (!list) return;
    this.pending.delete(instanceId);
    for (const { pending, timer } of list.values()) {
      clearTimeout(timer);
      pending.failed(new RpcError(Status.UNAVAILABLE, `instance ${instanceId} disconnected before it opened the exec session`));
    }
  }

  /** Counts a session as running (for placement and shutdown) until the returned function runs. */
  track(session: RunningExec): () => void {
    this.running.add(session);
    return () => this.running.delete(session);
  }

  /** Server shutdown: every pending request fails, every running session ends. */
  shutdown(reason: string): void {
    for (const [instanceId, list] of [...this.pending]) {
      this.pending.delete(instanceId);
      for (const { pending, timer } of list.values()) {
        clearTimeout(timer);
        pending.failed(new RpcError(Status.UNAVAILABLE, reason));
      }
    }
    for (const session of [...this.running]) session.abort(reason);
    this.running.clear();
  }

  private load(instanceId: string): InstanceLoad {
    let busy = this.pending.get(instanceId)?.size ?? 0;
    for (const s of this.running) if (s.instanceId === instanceId) busy++;
    return { busy, lastChosen: this.lastChosen.get(instanceId) ?? 0 };
  }

  private drop(instanceId: string, index: number): boolean {
    const list = this.pending.get(instanceId);
    const waiting = list?.get(index);
    if (!list || !waiting) return false;
    clearTimeout(waiting.timer);
    list.delete(index);
    if (list.size === 0) this.pending.delete(instanceId);
    return true;
  }
}

/** 10s, 1.5s, 500ms: as an operator would write it. */
export function formatMs(ms: number): string {
  return ms >= 1000 ? `${ms / 1000}s` : `${ms}ms`;
}
