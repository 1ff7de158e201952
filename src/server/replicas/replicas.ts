// server/replicas/ owns what the replicas of one database know of each other: who is up (a
// heartbeat row each), where each live instance is connected, and how one replica calls
// another. On SQLite there is one server (SoloReplicas): every instance is local and nothing is
// forwarded. On PostgreSQL every `server run` is a replica (postgres.ts).
import type { Metadata } from '@grpc/grpc-js';
import type { InstanceFilter, InstanceInfo } from '../instances/registry.js';
import type { ReplicaChange } from './changes.js';

export interface ReplicaInfo {
  /** A ULID made at each start: a restarted replica is a new one. */
  id: string;
  /** host:port the other replicas dial for gRPC (--advertise). */
  grpcAddress: string;
  /** host:port of its HTTP ingress, for requests forwarded to its instances; undefined when off. */
  httpAddress?: string;
  version: string;
  /** ms since the epoch */
  startedAt: number;
  /** ms since the epoch, on the database's clock. */
  heartbeatAt: number;
  /** Its last heartbeat is within the timeout: it is forwarded to, its instances are connected. */
  alive: boolean;
  /** Instances connected to it, as written in the database (list() only). */
  instances?: number;
}

/** An instance connected to another replica, as that replica last wrote it. */
export interface RemoteInstance {
  replica: ReplicaInfo;
  info: InstanceInfo;
}

/**
 * Metadata of a call that one replica makes to another on behalf of a caller. The receiver
 * answers from what it holds itself and never forwards again (no loops), and records the
 * original caller in its audit trail. Honoured only on calls made with the operator's authority
 * (a replica signs with the key every replica shares).
 */
export const REPLICA_METADATA = {
  /** The id of the replica that forwarded the call. */
  hop: 'wp-replica-hop',
  /** The original caller's token id and address: "<token id> <host:port>". */
  forwardedFor: 'wp-forwarded-for',
} as const;

export interface Replicas {
  /** This server. */
  readonly self: ReplicaInfo;
  /** False on SQLite: there is no other replica to look up or forward to. */
  readonly shared: boolean;
  /** Every replica the database knows, this one included; the alive first, then by start. */
  list(): Promise<ReplicaInfo[]>;
  /** Where an instance not connected here is connected, if on another replica (alive or not). */
  locate(instanceId: string): Promise<RemoteInstance | undefined>;
  /** The instances connected to other replicas that match `filter`, oldest connection first. */
  remoteInstances(filter?: InstanceFilter): Promise<RemoteInstance[]>;
  /**
   * The metadata of a call to another replica on behalf of `caller`: a token with the
   * operator's authority, signed with the shared key, and the hop marks.
   */
  peerMetadata(caller: { tokenId: string; address: string }): Promise<Metadata>;
  /** Tells the other replicas of a change made here (config, revocations); never throws. */
  announce(change: ReplicaChange): Promise<void>;
  /** Stops the heartbeat and removes this replica's rows (a clean stop). */
  close(): Promise<void>;
}

/** The marks of a forwarded call, when `metadata` has them. */
export function forwardedCall(metadata: Metadata): { hop: string; tokenId: string; address: string } | undefined {
  const hop = metadata.get(REPLICA_METADATA.hop)[0];
  if (typeof hop !== 'string' || hop === '') return undefined;
  const [tokenId = '', address = ''] = String(metadata.get(REPLICA_METADATA.forwardedFor)[0] ?? '').split(' ');
  return { hop, tokenId, address };
}
