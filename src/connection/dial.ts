// One gRPC channel to the server, shared by every stream of a session (config, logs, exec, url):
// one HTTP/2 connection, as Waypoint's entrypoint has. A failed attempt or an ended session
// closes its channel and the next attempt dials a new one, so that our backoff (backoff.ts), not
// grpc's, decides when the network is tried again.
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import type { WaypointClient } from '../protocol/generated/hashicorp/waypoint/Waypoint.js';
import { instanceProtocol } from '../protocol/instance.js';

export const KEEPALIVE_TIME_MS = 30_000;
export const KEEPALIVE_TIMEOUT_MS = 10_000;
/**
 * Our HTTP/2 receive window, per stream and for the connection (grpc-js uses one value for
 * both). Exec input and tunnel uploads flow toward us: Node's 64 KiB window would let the
 * server send one 64 KiB message per round trip and both sides idle waiting for WINDOW_UPDATEs.
 * It also bounds what all our paused streams together may hold here.
 */
export const RECEIVE_WINDOW_BYTES = 1024 * 1024;

export function channelOptions(version: string): ChannelOptions {
  return {
    // HTTP/2 pings find a dead peer (a host gone, a NAT entry expired) that TCP alone would
    // only notice after many minutes; idle config streams are the normal case, so ping
    // without calls too.
    'grpc.keepalive_time_ms': KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    // Subchannels of our own: closing the channel then releases its connection at once (see
    // owned-sockets.ts) instead of leaving it in a process-wide pool that reconnects on its own.
    'grpc.use_local_subchannel_pool': 1,
    // Our loop paces the attempts; a channel lives for one attempt or one session, so grpc's own
    // reconnection backoff never gets to run in practice.
    'grpc.initial_reconnect_backoff_ms': 1_000,
    'grpc.max_reconnect_backoff_ms': 30_000,
    // No DNS TXT lookup for a service config nobody publishes, and no transparent retries of
    // our calls: failures reach our loop as they are.
    'grpc.service_config_disable_resolution': 1,
    'grpc.enable_retries': 0,
    'grpc.primary_user_agent': `waypoint-entrypoint/${version}`,
    'grpc-node.flow_control_window': RECEIVE_WINDOW_BYTES,
  };
}

export interface DialOptions {
  /** host:port, as WAYPOINT_SERVER_ADDR gives it. */
  addr: string;
  credentials: ChannelCredentials;
  version: string;
}

/** A client on a new channel. Nothing connects until the first call. */
export function dial({ addr, credentials, version }: DialOptions): WaypointClient {
  const Waypoint = instanceProtocol().hashicorp.waypoint.Waypoint;
  return new Waypoint(addr, credentials, channelOptions(version));
}
