// The one server of a SQLite data dir: no other replica exists, so every instance is here and
// nothing is ever forwarded.
import type { Metadata } from '@grpc/grpc-js';
import type { ReplicaInfo, Replicas, RemoteInstance } from './replicas.js';

export class SoloReplicas implements Replicas {
  readonly shared = false;

  constructor(
    readonly self: ReplicaInfo,
    private readonly liveCount: () => number,
  ) {}

  async list(): Promise<ReplicaInfo[]> {
    return [{ ...this.self, heartbeatAt: Date.now(), instances: this.liveCount() }];
  }

  async locate(): Promise<RemoteInstance | undefined> {
    return undefined;
  }

  async remoteInstances(): Promise<RemoteInstance[]> {
    return [];
  }

  async peerMetadata(): Promise<Metadata> {
    throw new Error('a server on SQLite has no other replica to call');
  }

  async announce(): Promise<void> {}

  async close(): Promise<void> {}
}
