// `waypoint-ctl instances`: the entrypoints connected right now.
import type { Command } from 'commander';
import type { InstanceInfo__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/InstanceInfo.js';
import { fromTimestamp } from '../../protocol/timestamp.js';
import { connect } from '../client.js';
import { formatTime, isoTime, printJson, printTable } from '../output.js';
import { resolveTarget } from '../target.js';
import { connectionFlags, withConnectionOptions } from './options.js';

export function instancesCommand(program: Command): void {
  withConnectionOptions(
    program
      .command('instances')
      .description('list the instances connected now, oldest connection first, with the state each reported of its app')
      .option('--app <app>', 'only the instances of this app')
      .option('--json', 'print JSON'),
  ).action(async (opts: Record<string, unknown>) => {
    const api = connect(resolveTarget(connectionFlags(opts)));
    try {
      const { instances, replica_id: answering } = await api.listInstances(opts.app as string | undefined);
      if (opts.json) printJson(instances.map(instanceJson));
      else {
        // Replicas (PostgreSQL): which one each instance is on, once they are on more than one
        // (or one is gone: its instances are disconnected).
        const replicated = new Set(instances.map((i) => i.replica_id)).size > 1 || instances.some((i) => i.disconnected);
        const replica = (i: InstanceInfo__Output) => (replicated ? [`${shortId(i.replica_id)}${i.disconnected ? ' (gone)' : ''}`] : []);
        printTable(
          ['INSTANCE', 'APP', 'DEPLOYMENT', 'TYPE', 'EXEC', 'STATE', 'CONNECTED', 'LINES', 'REMOTE', ...(replicated ? ['REPLICA'] : []), 'MESSAGE'],
          instances.map((i) => [
            i.id,
            i.app,
            i.deployment_id,
            i.type,
            i.exec_disabled ? 'disabled' : 'enabled',
            i.disconnected ? 'DISCONNECTED' : i.state || '-',
            formatTime(fromTimestamp(i.connected_since)),
            // Lines reach the replica an instance is on: another's count is not known here.
            i.replica_id !== answering ? '-' : i.log_lines_received,
            i.remote_address,
            ...replica(i),
            // Last: the one long cell; printTable escapes control characters in every cell.
            i.state_message || '-',
          ]),
          'no instances connected',
        );
      }
    } finally {
      api.close();
    }
  });
}

function instanceJson(i: InstanceInfo__Output) {
  return {
    id: i.id,
    deployment_id: i.deployment_id,
    app: i.app,
    type: i.type,
    exec_disabled: i.exec_disabled,
    connected_since: isoTime(fromTimestamp(i.connected_since)),
    remote_address: i.remote_address,
    log_lines_received: Number(i.log_lines_received),
    // null: the instance reported none (yet), e.g. an entrypoint older than the status service.
    state: i.state || null,
    state_message: i.state_message,
    state_since: isoTime(fromTimestamp(i.state_since)),
    ...(i.replica_id !== '' && { replica_id: i.replica_id, replica_address: i.replica_address, disconnected: i.disconnected }),
  };
}

/** A replica id (a ULID) by its last 8 characters: the part that differs between replicas started together. */
export function shortId(id: string): string {
  return id.length > 8 ? id.slice(-8) : id;
}
