// How a server becomes a replica once its listeners are bound: the address the others dial, and
// what it does when they tell it of a change (or when it may have missed some).
import os from 'node:os';
import type { ServerContext } from '../context.js';
import { formatAddress, parseAdvertise } from '../../rules/listen.js';
import { revokedAmong } from '../store/postgres/replica-rows.js';
import type { Pool } from '../store/postgres/pool.js';
import { dropInstances } from '../api/control/tokens.js';
import type { ChangeHandlers, ReplicaChange } from './changes.js';
import type { PgReplicas } from './postgres.js';

/**
 * The gRPC address the other replicas dial: `advertise` as given (host:port, port not 0), else
 * the listen address when its host is specific, else this machine's name with the bound port.
 */
export function advertisedAddress(advertise: string | undefined, listenHost: string, port: number): string {
  if (advertise !== undefined) return parseAdvertise(advertise);
  const any = listenHost === '0.0.0.0' || listenHost === '[::]';
  return formatAddress(any ? os.hostname() : listenHost, port);
}

/** The advertised host with another port: where the others reach this replica's HTTP ingress. */
export function withPort(address: string, port: number): string {
  return formatAddress(address.slice(0, address.lastIndexOf(':')), port);
}

export async function joinReplicas(ctx: ServerContext, replicas: PgReplicas, pool: Pool, addresses: { grpcAddress: string; httpAddress?: string }): Promise<void> {
  ctx.appConfig.onChanged = (app) => void replicas.announce({ kind: 'config', app: app ?? null });
  await replicas.start(addresses, handlers(ctx, pool));
}

function handlers(ctx: ServerContext, pool: Pool): ChangeHandlers {
  const refresh = (app: string | undefined) =>
    ctx.appConfig.refresh(app).catch((err: Error) => ctx.log.warn('a config change of another replica was not pushed here', { app: app ?? '(every app)', error: err.message }));
  const revoked = (ids: string[]) => {
    if (ids.length === 0) return;
    dropInstances(ctx, new Set(ids));
    ctx.revocations.revoked(ids);
  };
  return {
    change(change: ReplicaChange) {
      if (change.kind === 'config') void refresh(change.app ?? undefined);
      else if (change.kind === 'revoked') revoked(change.ids);
      else ctx.revocations.sessionsEnded(change.keys);
    },
    resync() {
      void refresh(undefined);
      const tokens = [...new Set(ctx.registry.list().map((i) => i.tokenId))];
      revokedAmong(pool, tokens).then(revoked, (err: Error) =>
        ctx.log.warn('resync: the tokens of live instances could not be checked; they are at their next call', { error: err.message }),
      );
    },
  };
}
