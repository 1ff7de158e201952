// Which live instance runs an exec request: pure, so that the rules are tested without a server.
// A named instance must be connected and accept exec. For an app, only its instances with exec
// enabled count; the newest deployment's are preferred (the code an operator most likely wants
// to look at), and among those the least busy, then the one chosen least recently, so that a
// series of sessions spreads over the instances instead of piling onto the first.
import type { InstanceInfo } from '../instances/registry.js';
import type { RemoteInstance } from '../replicas/replicas.js';
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
  const eligible = eligibleOf(app, live);
  const newest = newestDeployment(eligible);
  return best(eligible.filter((i) => i.deploymentId === newest), load);
}

/** Where a session runs: an instance connected here, or one connected to another replica. */
export type Placement = { local: InstanceInfo } | { remote: RemoteInstance };

/**
 * For an app on replicas: its instances here and those on the other alive replicas, by the same
 * rules (newest deployment first); among the newest deployment's, one here when there is one
 * (no hop), else the best of the others'.
 */
export function chooseAcross(app: string, local: InstanceInfo[], remote: RemoteInstance[], load: (id: string) => InstanceLoad): Placement {
  const newest = newestDeployment(eligibleOf(app, [...local, ...remote.map((r) => r.info)]));
  const ofNewest = (i: InstanceInfo) => !i.execDisabled && i.deploymentId === newest;
  const here = local.filter(ofNewest);
  if (here.length > 0) return { local: best(here, load) };
  const there = remote.filter((r) => ofNewest(r.info));
  const chosen = best(there.map((r) => r.info), load);
  return { remote: there.find((r) => r.info === chosen)! };
}

/** The instances with exec enabled; FAILED_PRECONDITION saying why when there is none. */
function eligibleOf(app: string, live: InstanceInfo[]): InstanceInfo[] {
  if (live.length === 0) throw failedPrecondition(`app ${app} has no connected instance`);
  const eligible = live.filter((i) => !i.execDisabled);
  if (eligible.length === 0) {
    const n = live.length;
    throw failedPrecondition(
      `exec is disabled on ${n === 1 ? 'the only connected instance' : `all ${n} connected instances`} of app ${app} (${n === 1 ? DISABLED_HINT : 'they run with WAYPOINT_CEB_DISABLE_EXEC'})`,
    );
  }
  return eligible;
}

/** Deployment ids are ULIDs: they sort by creation time. */
function newestDeployment(eligible: InstanceInfo[]): string {
  return eligible.reduce((max, i) => (i.deploymentId > max ? i.deploymentId : max), '');
}

/** The least busy, then the one chosen least recently, then the longest connected. */
function best(candidates: InstanceInfo[], load: (id: string) => InstanceLoad): InstanceInfo {
  const loaded = candidates.map((info) => ({ info, ...load(info.id) }));
  loaded.sort(
    (a, b) =>
      a.busy - b.busy ||
      a.lastChosen - b.lastChosen ||
      a.info.connectedSince - b.info.connectedSince ||
      a.info.id.localeCompare(b.info.id),
  );
  return loaded[0].info;
}
