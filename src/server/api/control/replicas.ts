// ListInstances and ListReplicas: what the operator sees of the replicas. Instances connected
// here come from memory; those of the other replicas from the rows they write (their state as
// last written, their log line counts not known here).
import type { InstanceInfo as InstanceMessage } from '../../../protocol/generated/waypoint_entrypoint/control/v1/InstanceInfo.js';
import type { ListInstancesResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListInstancesResponse.js';
import type { ListReplicasResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ListReplicasResponse.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import type { ServerContext } from '../../context.js';
import type { InstanceInfo } from '../../instances/registry.js';
import type { ReplicaInfo } from '../../replicas/replicas.js';

export async function listInstances(ctx: ServerContext, app: string): Promise<ListInstancesResponse> {
  const { replicas } = ctx;
  const here = ctx.registry.list({ app }).map((i) => ({
    ...instanceMessage(i, ctx.logs.received(i.id)),
    ...(replicas.shared && { replica_id: replicas.self.id, replica_address: replicas.self.grpcAddress }),
  }));
  if (!replicas.shared) return { instances: here };
  const liveHere = new Set(here.map((i) => i.id));
  const elsewhere = (await replicas.remoteInstances({ app })).filter((r) => !liveHere.has(r.info.id));
  const there = elsewhere.map(({ info, replica }) => ({
    ...instanceMessage(info, 0),
    replica_id: replica.id,
    replica_address: replica.grpcAddress,
    disconnected: !replica.alive,
  }));
  const all = [...here, ...there];
  const since = (m: InstanceMessage) => Number(m.connected_since?.seconds ?? 0) * 1000 + (m.connected_since?.nanos ?? 0) / 1e6;
  return { instances: all.sort((a, b) => since(a) - since(b) || String(a.id).localeCompare(String(b.id))), replica_id: replicas.self.id };
}

export async function listReplicas(ctx: ServerContext): Promise<ListReplicasResponse> {
  return { shared: ctx.replicas.shared, replicas: (await ctx.replicas.list()).map((r) => replicaMessage(r, r.id === ctx.replicas.self.id)) };
}

function replicaMessage(r: ReplicaInfo, self: boolean) {
  return {
    id: r.id,
    grpc_address: r.grpcAddress,
    http_address: r.httpAddress ?? '',
    version: r.version,
    started_at: toTimestamp(r.startedAt),
    heartbeat_at: toTimestamp(r.heartbeatAt),
    alive: r.alive,
    self,
    instances: String(r.instances ?? 0),
  };
}

export function instanceMessage(i: InstanceInfo, logLinesReceived: number): InstanceMessage {
  return {
    id: i.id,
    deployment_id: i.deploymentId,
    app: i.app,
    type: i.type,
    exec_disabled: i.execDisabled,
    connected_since: toTimestamp(i.connectedSince),
    remote_address: i.remoteAddress,
    log_lines_received: String(logLinesReceived),
    state: i.status?.state ?? '',
    state_message: i.status?.message ?? '',
    state_since: i.status ? toTimestamp(i.status.since) : null,
  };
}
