// The ingress on replicas: a request for an app with no live tunnel on this replica goes to the
// HTTP ingress of an alive replica where one of its instances has one (the newest deployment's,
// as here), marked so that it is never forwarded twice. The mark also carries what this replica
// saw of the client (its address, whether it is a trusted proxy), signed with the key every
// replica shares: the receiving replica sets the app's X-Forwarded-* from it as this one would
// have, and a mark anyone else forges is ignored (the header never reaches an app).
import { timingSafeEqual } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { TokenSigner } from '../auth/tokens.js';
import type { ReplicaInfo, Replicas } from '../replicas/replicas.js';
import type { ClientInfo } from './headers.js';

/** The mark's header (dropped before any app: headers.ts). */
export const HOP_HEADER = 'x-waypoint-replica-hop';
const PURPOSE = 'ingress-hop';
/** A mark older than this (or this far in the future: clocks differ a little) is ignored. */
const MARK_TTL_MS = 5 * 60_000;
/**
 * How long a replica found for an app is used without asking the database again: a burst of
 * requests costs one lookup. A tunnel that moved meanwhile costs that long of 503s from there.
 */
const FOUND_TTL_MS = 1_000;
/** Idle kept-alive connections to another replica's ingress close sooner than it would close them. */
const IDLE_MS = 1_000;

export interface ForwardTarget {
  replica: ReplicaInfo & { httpAddress: string };
  app: string;
  deploymentId: string;
}

export class ReplicaIngress {
  /** (lower-case app, deployment) → where it was found, and until when that holds. */
  private readonly found = new Map<string, { target: ForwardTarget; until: number }>();
  private readonly agents = new Map<string, http.Agent>();

  constructor(
    private readonly replicas: Replicas,
    private readonly signer: TokenSigner,
  ) {}

  /** Where the app (lower case) was found within the last moment; no database query. */
  recent(lowerApp: string, deploymentId?: string, now = Date.now()): ForwardTarget | undefined {
    const key = `${lowerApp} ${deploymentId ?? ''}`;
    const hit = this.found.get(key);
    if (hit && hit.until > now) return hit.target;
    if (hit) this.found.delete(key);
    return undefined;
  }

  /** Kept-alive connections to a replica's ingress (requests; an upgrade has a connection of its own). */
  agent(httpAddress: string): http.Agent {
    let agent = this.agents.get(httpAddress);
    if (!agent) this.agents.set(httpAddress, (agent = new http.Agent({ keepAlive: true, timeout: IDLE_MS })));
    return agent;
  }

  /** The server stops. */
  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
    this.found.clear();
  }

  /**
   * An alive replica with a live tunnel of the app (of `deploymentId` when given; else of the
   * app's newest deployment with one): a random one of those, to spread the load.
   */
  async find(app: string, deploymentId?: string): Promise<ForwardTarget | undefined> {
    if (!this.replicas.shared) return undefined;
    const serving = (await this.replicas.remoteInstances({ app, ...(deploymentId && { deploymentId }) })).filter(
      (r) => r.replica.alive && r.replica.httpAddress && r.info.urlTunnel && r.replica.id !== this.replicas.self.id,
    );
    if (serving.length === 0) return undefined;
    const newest = serving.reduce((max, r) => (r.info.deploymentId > max ? r.info.deploymentId : max), '');
    const ofNewest = serving.filter((r) => r.info.deploymentId === newest);
    const chosen = ofNewest[Math.floor(Math.random() * ofNewest.length)];
    const target = { replica: chosen.replica as ForwardTarget['replica'], app: chosen.info.app, deploymentId: newest };
    if (this.found.size >= 10_000) this.found.clear(); // bounded, whatever the hosts asked
    this.found.set(`${app.toLowerCase()} ${deploymentId ?? ''}`, { target, until: Date.now() + FOUND_TTL_MS });
    return target;
  }

  /** The mark of a request this replica forwards, for the client it saw. */
  mark(client: ClientInfo, now = Date.now()): string {
    const fields = [this.replicas.self.id, String(now), client.trusted ? '1' : '0', encodeURIComponent(client.remoteAddress)].join(' ');
    return `${fields} ${this.signer.macFor(PURPOSE, fields)}`;
  }

  /** The client another replica saw, when the request carries its valid mark; undefined otherwise. */
  verify(req: IncomingMessage, now = Date.now()): { hop: string; remoteAddress: string; trusted: boolean } | undefined {
    const value = req.headers[HOP_HEADER];
    if (typeof value !== 'string') return undefined;
    const parts = value.split(' ');
    if (parts.length !== 5) return undefined;
    const [hop, at, trusted, address, mac] = parts;
    const expected = Buffer.from(this.signer.macFor(PURPOSE, parts.slice(0, 4).join(' ')));
    const given = Buffer.from(mac);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
    if (!(Math.abs(now - Number(at)) <= MARK_TTL_MS)) return undefined;
    let remoteAddress: string;
    try {
      remoteAddress = decodeURIComponent(address);
    } catch {
      return undefined;
    }
    return { hop, remoteAddress, trusted: trusted === '1' };
  }
}
