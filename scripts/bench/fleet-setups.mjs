// The servers a fleet bench (fleet.mjs) runs against: one server on SQLite, or two replicas on
// one PostgreSQL database (a throwaway cluster made here). Each setup gives its servers (pid and
// gRPC address), the deployment the instances register to, the control client of the first
// server (where `config set` is called), and stop(), which ends all it started. `root`: the
// checkout whose servers run (a baseline's, to compare side by side).
import { controlClient, referenceServer } from './lib.mjs';
import { DURABILITY_OFF, startPostgres } from './postgres.mjs';

export const SETUPS = {
  sqlite: { title: 'one server on SQLite', start: sqlite },
  replicas: { title: 'two replicas on PostgreSQL', start: replicas },
};

/** The setups named in `list` (comma-separated), in that order; throws on an unknown one. */
export function chosenSetups(list) {
  return list.split(',').map((name) => {
    const setup = SETUPS[name.trim()];
    if (!setup) throw new Error(`unknown fleet setup ${JSON.stringify(name)}: BENCH_FLEET_SETUPS takes ${Object.keys(SETUPS).join(',')}`);
    return { name: name.trim(), ...setup };
  });
}

/** Enough room for the whole fleet on any one server. */
function serverArgs(instances) {
  return ['--max-instances-per-deployment', String(instances + 100)];
}

async function sqlite(instances, stack, root) {
  const server = await referenceServer({ extraArgs: serverArgs(instances), root });
  stack.push(() => server.stop());
  const control = controlClient(server.addr, server.operatorToken);
  stack.push(() => control.close());
  return { servers: [{ name: 'server', ...server }], deployment: server.env, control, note: '' };
}

async function replicas(instances, stack, root) {
  const pg = await startPostgres();
  stack.push(() => pg.stop());
  const args = [...serverArgs(instances)];
  const a = await referenceServer({ extraArgs: args, databaseUrl: pg.url, root });
  stack.push(() => a.stop());
  const b = await referenceServer({ extraArgs: args, databaseUrl: pg.url, operatorToken: a.operatorToken, root });
  stack.push(() => b.stop());
  const control = controlClient(a.addr, a.operatorToken);
  stack.push(() => control.close());
  return {
    servers: [
      { name: 'A', ...a },
      { name: 'B', ...b },
    ],
    deployment: a.env,
    control,
    postgresPid: pg.pid,
    note: `PostgreSQL: a throwaway cluster on this machine, durability off (${DURABILITY_OFF}); config set on A, B's instances get it through NOTIFY and B's push`,
  };
}
