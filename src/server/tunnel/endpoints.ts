// The tunnel endpoints of live instances, by deployment, and the choice among them: round robin
// over those that are live, not excluded (already tried for this request) and under the
// per-instance limit of requests in flight. Pure bookkeeping: no I/O, no timers.

export interface EndpointLike {
  readonly instanceId: string;
  readonly deploymentId: string;
  /** Requests (and upgraded connections) carried through it right now (the ingress counts them). */
  inFlight: number;
}

export type PickResult<E> = { kind: 'ok'; endpoint: E } | { kind: 'none' } | { kind: 'busy' };

export interface PickOptions<E> {
  /** At most this many requests in flight per endpoint. */
  max: number;
  exclude?: ReadonlySet<E>;
  live?: (endpoint: E) => boolean;
}

export class EndpointSet<E extends EndpointLike> {
  private readonly byInstance = new Map<string, E>();
  /** In registration order; the round robin walks it from the cursor. */
  private readonly byDeployment = new Map<string, E[]>();
  private readonly cursor = new Map<string, number>();

  /** Adds an endpoint; returns the one of the same instance it replaces (one per instance). */
  add(endpoint: E): E | undefined {
    const previous = this.byInstance.get(endpoint.instanceId);
    if (previous) this.remove(previous);
    this.byInstance.set(endpoint.instanceId, endpoint);
    const list = this.byDeployment.get(endpoint.deploymentId);
    if (list) list.push(endpoint);
    else this.byDeployment.set(endpoint.deploymentId, [endpoint]);
    return previous;
  }

  /** False when it was not there (already removed or replaced). */
  remove(endpoint: E): boolean {
    if (this.byInstance.get(endpoint.instanceId) !== endpoint) return false;
    this.byInstance.delete(endpoint.instanceId);
    const list = this.byDeployment.get(endpoint.deploymentId)!;
    const i = list.indexOf(endpoint);
    list.splice(i, 1);
    if (list.length === 0) {
      this.byDeployment.delete(endpoint.deploymentId);
      this.cursor.delete(endpoint.deploymentId);
    } else {
      // Keep pointing at the endpoint that was next.
      const c = this.cursor.get(endpoint.deploymentId) ?? 0;
      if (i < c) this.cursor.set(endpoint.deploymentId, c - 1);
    }
    return true;
  }

  ofInstance(instanceId: string): E | undefined {
    return this.byInstance.get(instanceId);
  }

  ofDeployment(deploymentId: string): readonly E[] {
    return this.byDeployment.get(deploymentId) ?? [];
  }

  all(): E[] {
    return [...this.byInstance.values()];
  }

  /**
   * The next endpoint of the deployment in round robin order that is live, not excluded and
   * under the limit. `none`: no such endpoint at all; `busy`: there are, all at the limit.
   */
  pick(deploymentId: string, { max, exclude, live }: PickOptions<E>): PickResult<E> {
    const list = this.byDeployment.get(deploymentId);
    if (!list) return { kind: 'none' };
    const start = (this.cursor.get(deploymentId) ?? 0) % list.length;
    let candidates = 0;
    for (let n = 0; n < list.length; n++) {
      const i = (start + n) % list.length;
      const e = list[i];
      if (exclude?.has(e) || (live && !live(e))) continue;
      candidates++;
      if (e.inFlight >= max) continue;
      this.cursor.set(deploymentId, i + 1);
      return { kind: 'ok', endpoint: e };
    }
    return candidates === 0 ? { kind: 'none' } : { kind: 'busy' };
  }
}
