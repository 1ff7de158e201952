// The ingress on replicas: a request for an app with no live tunnel on this replica goes to the
// HTTP ingress of an alive replica where one of its instances has one (the newest deployment's,
// as here), marked so that it is never forwarded twice. The mark also carries what this replica
// saw of the client (its address, whether it is a trusted proxy), signed with the key every
// replica shares: the receiving replica sets the app's X-Forwarded-* from it as this one would
// have, and a mark anyone else forges is ignored (the header never reaches an app).
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { TokenSigner } from '../auth/tokens.js';
import type { ReplicaInfo, Replicas } from '../replicas/replicas.js';
import type { ClientInfo } from './headers.js';

/** The mark's header (dropped before any app: headers.ts). */
export const HOP_HEADER = 'x-waypoint-replica-hop';
const PURPOSE = 'ingress-hop';
/** A mark older than this (or this far in the future: clocks differ a little) is ignored. */
const MARK_TTL_MS = 5 * 60_000;

export interface ForwardTarget {
  replica: ReplicaInfo & { httpAddress: string };
  app: string;
  deploymentId: string;
}

export class ReplicaIngress {
  constructor(
    private readonly replicas: Replicas,
    private readonly signer: TokenSigner,
  ) {}

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
    return { replica: chosen.replica as ForwardTarget['replica'], app: chosen.info.app, deploymentId: newest };
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
