// server/rpc/ holds what every gRPC handler shares, whatever its concern: errors as statuses, the
// client's protocol check, a stream's first message, the receive window for bulk bytes.
//
// gRPC errors as handlers raise them: an Error carrying a status code, whose message is what
// the client sees, so it must say what went wrong and what to do about it.
import { status as Status } from '@grpc/grpc-js';
import type { ServerLog } from '../log.js';
import { StoreUnavailable } from '../store/store.js';

export { Status };

export class RpcError extends Error {
  constructor(
    readonly code: Status,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }

  /** The form grpc-js takes from callbacks and `emit('error')`. */
  get details(): string {
    return this.message;
  }
}

export const unauthenticated = (message: string) => new RpcError(Status.UNAUTHENTICATED, message);
export const permissionDenied = (message: string) => new RpcError(Status.PERMISSION_DENIED, message);
export const invalidArgument = (message: string) => new RpcError(Status.INVALID_ARGUMENT, message);
export const failedPrecondition = (message: string) => new RpcError(Status.FAILED_PRECONDITION, message);

/** SQLite's and the OS's "no space left": not our bug, the operator's disk to grow. */
const DISK_FULL_CODES: ReadonlySet<unknown> = new Set(['SQLITE_FULL', 'ENOSPC', 'EDQUOT']);

/** The disk of the data dir is full: nothing was changed (SQLite rolled the transaction back). */
export const diskFull = () =>
  new RpcError(
    Status.RESOURCE_EXHAUSTED,
    "the server's data dir is out of disk space: nothing was changed; free some space (or grow the disk) and retry",
  );

/** Anything thrown that is not an RpcError is our bug: INTERNAL, with its one-line message. */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof StoreUnavailable) return new RpcError(Status.UNAVAILABLE, err.message);
  if (DISK_FULL_CODES.has((err as { code?: unknown })?.code)) return diskFull();
  return new RpcError(Status.INTERNAL, `internal server error: ${(err as Error)?.message ?? String(err)}`);
}

/**
 * The status to answer with; our own bugs (INTERNAL) are logged as errors, a full disk as a
 * warning (the server's operator must act), refusals at debug.
 */
export function reported(log: ServerLog, err: unknown, rpc: string): RpcError {
  const e = toRpcError(err);
  if (e.code === Status.INTERNAL) log.error(`${rpc} failed`, { error: e.message });
  else if (e.code === Status.RESOURCE_EXHAUSTED && e.message === diskFull().message) log.warn(`${rpc} failed: ${e.message}`);
  else log.debug(`${rpc} refused`, { code: Status[e.code], reason: e.message });
  return e;
}
