// The metadata Waypoint's server expects on every call: who we are (protocol ranges, version),
// that we can drop inline keepalives, and, once we have one, the entrypoint token in both of the
// headers servers read it from.
import type { Metadata } from '@grpc/grpc-js';
import { grpc } from '../protocol/instance.js';
import { formatRange, METADATA, PROTOCOL_VERSIONS } from '../protocol/metadata.js';

export interface CallIdentity {
  /** Our package version (client-version). */
  version: string;
  /** The entrypoint token, once the invite was exchanged; no auth headers without it. */
  token?: string;
}

/** The header pairs, in a plain form that tests and logs of header names can use. */
export function callHeaders({ version, token }: CallIdentity): Array<[string, string]> {
  const headers: Array<[string, string]> = [
    [METADATA.apiProtocol, formatRange(PROTOCOL_VERSIONS.api)],
    [METADATA.entrypointProtocol, formatRange(PROTOCOL_VERSIONS.entrypoint)],
    [METADATA.version, version],
    [METADATA.inlineKeepalives, 'true'],
  ];
  if (token) headers.push([METADATA.authorization, token], [METADATA.waypointToken, token]);
  return headers;
}

/** A fresh Metadata for one call (grpc-js may mutate what it is given). */
export function callMetadata(identity: CallIdentity): Metadata {
  const md = new grpc.Metadata();
  for (const [key, value] of callHeaders(identity)) md.set(key, value);
  return md;
}
