// The live instances: one entry per open EntrypointConfig stream, kept in memory only (an
// instance exists exactly as long as its stream). Each entry holds the stream's sink, so that
// "push new config to every instance of app X" is a loop over `ofApp(X)`.
import type { EntrypointConfigResponse } from '../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { RpcError, Status } from './status.js';

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

export class InstanceRegistry {
  private readonly live = new Map<string, LiveInstance>();

  /**
   * Registers an instance and returns its removal, which is a no-op once a newer registration
   * of the same id has replaced it (an entrypoint reconnecting before its old stream is noticed
   * dead). Throws ALREADY_EXISTS when the id is live in another deployment.
   */
  add(info: InstanceInfo, sink: ConfigSink): () => void {
    const previous = this.live.get(info.id);
    if (previous && previous.info.deploymentId !== info.deploymentId) {
      throw new RpcError(
        Status.ALREADY_EXISTS,
        `instance id ${info.id} is already registered by deployment ${previous.info.deploymentId}: use a fresh instance id`,
      );
    }
    const entry: LiveInstance = { info, sink };
    this.live.set(info.id, entry);
    previous?.sink.close(new RpcError(Status.ABORTED, `instance ${info.id} registered again on a newer stream`));
    return () => {
      if (this.live.get(info.id) === entry) this.live.delete(info.id);
    };
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

  /** The live instances of an app, with their sinks: where a config change is pushed. */
  ofApp(app: string): LiveInstance[] {
    return [...this.live.values()].filter((e) => e.info.app === app);
  }

  /** Server shutdown: every stream ends with UNAVAILABLE, which entrypoints retry. */
  closeAll(reason: string): void {
    for (const entry of [...this.live.values()]) entry.sink.close(new RpcError(Status.UNAVAILABLE, reason));
    this.live.clear();
  }
}
