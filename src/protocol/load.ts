// The gRPC definitions, from the descriptor that scripts/gen-proto.mjs embeds at build time (no
// .proto file is read at run time). Import this module only where gRPC is really used: loading
// @grpc/grpc-js costs tens of milliseconds that disabled mode must not pay.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import descriptor from './generated/descriptor.json';
import type { ProtoGrpcType as ControlProto } from './generated/control.js';
import type { ProtoGrpcType as WaypointProto } from './generated/entrypoint.js';
import { dropInlineKeepalives } from './keepalive.js';

/** Must match the flags scripts/gen-proto.mjs gives proto-loader-gen-types. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

export type Protocol = WaypointProto & ControlProto;

let loaded: { definition: protoLoader.PackageDefinition; grpcObject: Protocol } | undefined;

function load() {
  if (!loaded) {
    const definition = protoLoader.fromJSON(descriptor as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
    dropInlineKeepalives(definition);
    loaded = { definition, grpcObject: grpc.loadPackageDefinition(definition) as unknown as Protocol };
  }
  return loaded;
}

/** Clients and service definitions of both packages, hashicorp.waypoint and our control API. */
export function protocol(): Protocol {
  return load().grpcObject;
}

export { grpc };
