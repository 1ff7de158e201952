// Why a connection attempt or a session failed, in the terms the retry loop decides on.
import type { ServiceError } from '@grpc/grpc-js';
import { grpc } from '../protocol/instance.js';

export type FailureKind =
  /** Refused, reset, DNS, TLS handshake: nothing answered at the gRPC level. */
  | 'unreachable'
  /** Connected (or not) but no answer within the deadline: a silent or stuck peer. */
  | 'silent'
  /** The server's entrypoint protocol range excludes ours. */
  | 'incompatible'
  /** The token (or the invite) was refused. */
  | 'unauthenticated'
  /** Any other refusal: permission denied, unknown deployment, a server error. */
  | 'rejected'
  /** We closed it ourselves. */
  | 'closed'
  /** We dropped it: a part of ours failed on what it brought (see guard.ts, Connection.fault). */
  | 'fault';

export class ConnectionFailure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    /** The gRPC status code, when the failure came from a call. */
    readonly code?: number,
  ) {
    super(message);
    this.name = 'ConnectionFailure';
  }
}

/**
 * grpc-js wraps connection errors ("No connection established. Last error: Error: connect
 * ECONNREFUSED ... (timestamp). Resolution note: "): keep the cause, drop the time so that
 * repeats compare equal.
 */
export function tidyDetails(text: string): string {
  const plain = text.replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '').trim();
  const m = /^No connection established\. Last error: (?:Error: )?(.*?)\.?(?: Resolution note:.*)?$/s.exec(plain);
  return m ? m[1].trim() : plain;
}

/** A failed call, classified; `what` names the call ("GetVersionInfo"). */
export function callFailure(what: string, err: ServiceError | Error): ConnectionFailure {
  const code = (err as ServiceError).code;
  const details = tidyDetails((err as ServiceError).details || err.message);
  const Status = grpc.status;
  switch (code) {
    case Status.UNAVAILABLE:
      return new ConnectionFailure('unreachable', `${what}: ${details}`, code);
    case Status.DEADLINE_EXCEEDED:
      return new ConnectionFailure('silent', `${what}: no answer in time`, code);
    case Status.UNAUTHENTICATED:
      return new ConnectionFailure('unauthenticated', `${what}: ${details}`, code);
    case Status.CANCELLED:
      return new ConnectionFailure('closed', `${what}: cancelled`, code);
    default:
      return new ConnectionFailure('rejected', `${what}: ${Status[code] ?? 'error'}: ${details}`, code);
  }
}
