// `waypoint-ctl server replicas`: the replicas of the server's database and their health.
import type { Command } from 'commander';
import type { ReplicaInfo__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ReplicaInfo.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { writeLine } from '../../log.js';
import { connect } from '../client.js';
import { formatTime, isoTime, printJson, printTable } from '../output.js';
import { resolveTarget } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

export function serverReplicasCommand(server: Command): void {
  withConnectionOptions(
    server
      .command('replicas')
      .description('list the replicas of the server\'s database (PostgreSQL), alive first, with their instances and last heartbeat')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const { shared, replicas } = await api.listReplicas();
      if (opts.json) return printJson({ shared, replicas: replicas.map(replicaJson) });
      if (!shared) {
        const [one] = replicas;
        return writeLine(1, `one server on SQLite (no replicas): ${one?.grpc_address ?? ''}, ${one?.instances ?? 0} instances; replicas need --database\n`);
      }
      const now = Date.now();
      printTable(
        ['REPLICA', 'HEALTH', 'GRPC', 'HTTP', 'INSTANCES', 'STARTED', 'HEARTBEAT', 'VERSION'],
        replicas.map((r) => [
          `${r.id}${r.self ? ' (answered)' : ''}`,
          r.alive ? 'alive' : 'gone',
          r.grpc_address,
          r.http_address || '-',
          r.instances,
          formatTime(fromTimestamp(r.started_at)),
          `${Math.max(0, Math.round((now - (fromTimestamp(r.heartbeat_at) ?? now)) / 1000))}s ago`,
          r.version,
        ]),
        'no replicas',
      );
    } finally {
      api.close();
    }
  });
}

function replicaJson(r: ReplicaInfo__Output) {
  return {
    id: r.id,
    alive: r.alive,
    self: r.self,
    grpc_address: r.grpc_address,
    http_address: r.http_address || null,
    instances: Number(r.instances),
    started_at: isoTime(fromTimestamp(r.started_at)),
    heartbeat_at: isoTime(fromTimestamp(r.heartbeat_at)),
    version: r.version,
  };
}
