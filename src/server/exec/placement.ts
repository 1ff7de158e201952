// Which live instance runs an exec request: pure, so that the rules are tested without a server.
// A named instance must be connected and accept exec. For an app, only its instances with exec
// enabled count; the newest deployment's are preferred (the code an operator most likely wants
// to look at), and among those the least busy, then the one chosen least recently, so that a
// series of sessions spreads over the instances instead of piling onto the first.
import type { InstanceInfo } from '../instances/registry.js';
import { failedPrecondition, RpcError, Status } from '../rpc/status.js';

export interface InstanceLoad {
  /** Sessions pending or running on the instance. */
  busy: number;
  /** A counter value of its last choice; 0 when never chosen. */
  lastChosen: number;
}

const DISABLED_HINT = 'it runs with WAYPOINT_CEB_DISABLE_EXEC';

export function chooseInstance(id: string, instance: InstanceInfo | undefined): InstanceInfo {
  if (!instance) {
    throw new RpcError(Status.NOT_FOUND, `no instance ${id} is connected (waypoint-ctl instances lists the live ones)`);
  }
  if (instance.execDisabled) throw failedPrecondition(`exec is disabled on instance ${id} (${DISABLED_HINT})`);
  return instance;
}

/** `live`: the app's connected instances. Throws FAILED_PRECONDITION when none is eligible. */
export function chooseForApp(app: string, live: InstanceInfo[], load: (id: string) => InstanceLoad): InstanceInfo {
  if (live.length === 0) throw failedPrecondition(`app ${app} has no connected instance`);
  const eligible = live.filter((i) => !i.execDisabled);
  if (eligible.length === 0) {
    const n = live.length;
    throw failedPrecondition(
      `exec is disabled on ${n === 1 ? 'the only connected instance' : `all ${n} connected instances`} of app ${app} (${n === 1 ? DISABLED_HINT : 'they run with WAYPOINT_CEB_DISABLE_EXEC'})`,
    );
  }
  // Deployment ids are ULIDs: they sort by creation time.
  const newest = eligible.reduce((max, i) => (i.deploymentId > max ? i.deploymentId : max), '');
  const candidates = eligible.filter((i) => i.deploymentId === newest).map((info) => ({ info, ...load(info.id) }));
  candidates.sort(
    (a, b) =>
      a.busy - b.busy ||
      a.lastChosen - b.lastChosen ||
      a.info.connectedSince - b.info.connectedSince ||
      a.info.id.localeCompare(b.info.id),
  );
  return candidates[0].info;
}
