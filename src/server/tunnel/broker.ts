// The tunnel broker: the Register streams of live instances (endpoints) and the connections
// asked of them. `open(endpoint)` sends `open{connection_id}` on the endpoint's Register stream
// and waits for the entrypoint to open the Connect stream of that id (from the same instance,
// with the token that registered it) and then reach the app; it resolves with the connection
// as a Duplex, or rejects with a TunnelError (beforeConnect: the request may go elsewhere).
// `poolOf(endpoint)` keeps such connections for later requests (pool.ts); an endpoint that goes
// away closes its pool.
import { randomBytes } from 'node:crypto';
import type { Principal } from '../auth/authenticator.js';
import type { InstanceRegistry } from '../instances/registry.js';
import { permissionDenied, RpcError, Status } from '../rpc/status.js';
import { type ConnectCall, TunnelConnection, TunnelError } from './connection.js';
import { EndpointSet, type PickResult } from './endpoints.js';
import { TunnelPool } from './pool.js';

/** How long the entrypoint has to open a connection's stream and reach the app. */
const OPEN_TIMEOUT_MS = 5_000;

/** One instance's Register stream. */
export interface TunnelEndpoint {
  readonly instanceId: string;
  readonly deploymentId: string;
  readonly app: string;
  /** The entrypoint token that registered it: only it may accept its connections. */
  readonly tokenId: string;
  inFlight: number;
  /** Asks the entrypoint for a Connect stream. */
  open(connectionId: string): void;
  /** Ends the Register stream with a status; the entrypoint registers again when it can. */
  close(error: RpcError): void;
}

interface Pending {
  endpoint: TunnelEndpoint;
  /** The entrypoint opened its Connect stream for it. */
  attach(call: ConnectCall): TunnelConnection;
  fail(err: TunnelError): void;
}

export interface OpenOptions {
  /** The client went away: give up. */
  signal?: AbortSignal;
}

export class TunnelBroker {
  private readonly endpoints = new EndpointSet<TunnelEndpoint>();
  private readonly pending = new Map<string, Pending>();
  private readonly pools = new Map<TunnelEndpoint, TunnelPool>();

  constructor(
    private readonly registry: InstanceRegistry,
    private readonly maxConcurrent: number,
  ) {}

  /** The endpoint's instance is still the live one that registered it. */
  readonly isLive = (e: TunnelEndpoint): boolean => {
    const live = this.registry.get(e.instanceId);
    return !!live && live.info.tokenId === e.tokenId && live.info.deploymentId === e.deploymentId;
  };

  add(endpoint: TunnelEndpoint): void {
    const replaced = this.endpoints.add(endpoint);
    this.markTunnel(endpoint.instanceId, true);
    if (replaced) {
      this.closePool(replaced);
      this.failPendingOf(replaced, 'the instance registered its tunnel again');
      replaced.close(new RpcError(Status.ABORTED, `instance ${endpoint.instanceId} registered its tunnel again on a newer stream`));
    }
  }

  /** Its Register stream ended: its connections not yet accepted fail (and are tried elsewhere). */
  remove(endpoint: TunnelEndpoint): void {
    if (!this.endpoints.remove(endpoint)) return;
    this.markTunnel(endpoint.instanceId, false);
    this.closePool(endpoint);
    this.failPendingOf(endpoint, 'the instance\'s tunnel closed');
  }

  /** The endpoint's kept-alive connections (HTTP requests go through it; upgrades use open()). */
  poolOf(endpoint: TunnelEndpoint): TunnelPool {
    let pool = this.pools.get(endpoint);
    if (!pool) {
      pool = new TunnelPool({ open: (signal) => this.open(endpoint, { signal }), maxIdle: this.maxConcurrent });
      // One that left already keeps nothing (and is not remembered).
      if (this.endpoints.ofInstance(endpoint.instanceId) === endpoint) this.pools.set(endpoint, pool);
      else pool.close();
    }
    return pool;
  }

  /** The instance's config stream ended for good: so does its tunnel. */
  instanceGone(instanceId: string): void {
    const e = this.endpoints.ofInstance(instanceId);
    if (!e) return;
    this.remove(e);
    e.close(new RpcError(Status.UNAVAILABLE, `instance ${instanceId} is no longer registered (its config stream ended)`));
  }

  /** Live endpoints of a deployment. */
  liveOf(deploymentId: string): TunnelEndpoint[] {
    return this.endpoints.ofDeployment(deploymentId).filter(this.isLive);
  }

  /** The newest deployment (highest ULID) of an app (lower case) with a live endpoint, and the app's name. */
  newestLiveOfApp(appLower: string): { app: string; deploymentId: string } | undefined {
    let best: { app: string; deploymentId: string } | undefined;
    for (const e of this.endpoints.all()) {
      if (e.app.toLowerCase() !== appLower || !this.isLive(e)) continue;
      if (!best || e.deploymentId > best.deploymentId) best = { app: e.app, deploymentId: e.deploymentId };
    }
    return best;
  }

  pick(deploymentId: string, exclude: ReadonlySet<TunnelEndpoint>): PickResult<TunnelEndpoint> {
    return this.endpoints.pick(deploymentId, { max: this.maxConcurrent, exclude, live: this.isLive });
  }

  open(endpoint: TunnelEndpoint, { signal }: OpenOptions = {}): Promise<TunnelConnection> {
    const id = randomBytes(12).toString('base64url');
    return new Promise<TunnelConnection>((resolve, reject) => {
      let connection: TunnelConnection | undefined;
      let done = false;
      const finish = (err?: TunnelError) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        if (!err) return resolve(connection!);
        connection?.fail(err);
        reject(err);
      };
      const timer = setTimeout(() => {
        const what = connection ? 'reach the app' : 'open the tunnel connection';
        finish(new TunnelError(`instance ${endpoint.instanceId} did not ${what} within ${OPEN_TIMEOUT_MS} ms`, !connection?.isConnected));
      }, OPEN_TIMEOUT_MS);
      const onAbort = () => finish(new TunnelError('the client went away', true));
      signal?.addEventListener('abort', onAbort);
      this.pending.set(id, {
        endpoint,
        attach: (call) => {
          this.pending.delete(id);
          connection = new TunnelConnection(call, id);
          connection.ready.then(() => finish(), (err: TunnelError) => finish(err));
          return connection;
        },
        fail: finish,
      });
      if (signal?.aborted) return onAbort();
      endpoint.open(id);
    });
  }

  /**
   * A Connect stream's `accept`: the connection must be pending, asked of this very instance,
   * and the caller the token that registered its endpoint. Throws a status otherwise.
   */
  accept(connectionId: string, instanceId: string, principal: Principal, call: ConnectCall): TunnelConnection {
    const pending = this.pending.get(connectionId);
    if (!pending) {
      throw new RpcError(Status.NOT_FOUND, `connection ${JSON.stringify(connectionId)} is not pending (never asked, timed out, or already accepted)`);
    }
    const { endpoint } = pending;
    if (principal.tokenId !== endpoint.tokenId || instanceId !== endpoint.instanceId) {
      throw permissionDenied(`connection ${connectionId} was asked of another instance: this token may accept only its own instance's connections`);
    }
    return pending.attach(call);
  }

  /** Server shutdown: every connection waiting fails, every Register stream ends. */
  shutdown(reason: string): void {
    for (const p of [...this.pending.values()]) p.fail(new TunnelError(reason, true));
    for (const e of this.endpoints.all()) {
      this.endpoints.remove(e);
      this.closePool(e);
      e.close(new RpcError(Status.UNAVAILABLE, reason));
    }
  }

  /** Said in the instance's info, which the other replicas read (replicas/): their ingress forwards to ours. */
  private markTunnel(instanceId: string, on: boolean): void {
    const live = this.registry.get(instanceId);
    if (!live || live.info.urlTunnel === on) return;
    live.info.urlTunnel = on;
    this.registry.changed(instanceId);
  }

  private closePool(endpoint: TunnelEndpoint): void {
    this.pools.get(endpoint)?.close();
    this.pools.delete(endpoint);
  }

  private failPendingOf(endpoint: TunnelEndpoint, reason: string): void {
    for (const p of [...this.pending.values()]) if (p.endpoint === endpoint) p.fail(new TunnelError(reason, true));
  }
}
