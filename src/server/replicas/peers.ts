// The replica-to-replica channel: one gRPC client per other replica (by its id: a restarted
// replica is a new one, at a new address maybe), made on first use, kept while the replica is
// alive, closed when it is gone and when this server stops. Every call carries the metadata
// `Replicas.peerMetadata` makes: a token with the operator's authority (signed with the key all
// replicas share) and the hop marks, so the receiver answers from what it holds and records the
// original caller.
import { type ChannelCredentials, Client, credentials as grpcCredentials, type Metadata } from '@grpc/grpc-js';
import { formatRange, METADATA, PROTOCOL_VERSIONS } from '../../protocol/metadata.js';
import type { TokenSigner } from '../auth/tokens.js';
import { proveHop } from './origin.js';
import type { ReplicaInfo, Replicas } from './replicas.js';

/** Between two looks for replicas gone, whose channels are then closed. */
const PRUNE_EVERY_MS = 30_000;
/** Forwarded GetLogs messages hold up to 1 MiB of lines, plus one line of up to 4 MiB. */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
/** Exec output and followed logs flow to us: a wider window than Node's 64 KiB keeps them moving. */
const RECEIVE_WINDOW_BYTES = 1024 * 1024;

export interface PeerCaller {
  /** The original caller's token id, and its host:port. */
  tokenId: string;
  address: string;
}

export class Peers {
  private readonly clients = new Map<string, { client: Client; address: string }>();
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly replicas: Replicas,
    private readonly signer: TokenSigner,
    private readonly credentials: ChannelCredentials = grpcCredentials.createInsecure(),
  ) {
    this.timer = setInterval(() => void this.prune(), PRUNE_EVERY_MS);
    this.timer.unref();
  }

  /** The client of `replica`'s gRPC port; the same one for every call to it. */
  client(replica: ReplicaInfo): Client {
    if (this.closed) throw new Error('the server is stopping');
    const known = this.clients.get(replica.id);
    if (known && known.address === replica.grpcAddress) return known.client;
    known?.client.close();
    const client = new Client(replica.grpcAddress, this.credentials, {
      'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
      'grpc-node.flow_control_window': RECEIVE_WINDOW_BYTES,
      'grpc.enable_channelz': 0,
    });
    this.clients.set(replica.id, { client, address: replica.grpcAddress });
    return client;
  }

  /** The metadata of a call on behalf of `caller`: the replicas' token, the hop marks and their proof, our protocol. */
  async metadata(caller: PeerCaller): Promise<Metadata> {
    const md = await this.replicas.peerMetadata(caller);
    if (md.get(METADATA.apiProtocol).length === 0) md.set(METADATA.apiProtocol, formatRange(PROTOCOL_VERSIONS.api));
    proveHop(this.signer, md);
    return md;
  }

  /** Closes the channels of replicas no longer alive (a failed look leaves them for the next). */
  async prune(): Promise<void> {
    if (this.clients.size === 0) return;
    let alive: Set<string>;
    try {
      alive = new Set((await this.replicas.list()).filter((r) => r.alive).map((r) => r.id));
    } catch {
      return;
    }
    for (const [id, { client }] of this.clients) {
      if (alive.has(id)) continue;
      client.close();
      this.clients.delete(id);
    }
  }

  /** The server stops: every channel closes (calls on them end with CANCELLED/UNAVAILABLE). */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const { client } of this.clients.values()) client.close();
    this.clients.clear();
  }
}
