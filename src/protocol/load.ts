// Every package of our protocol: the Waypoint entrypoint API, our operator API (control), the
// tunnel, the instance status. For the server, waypoint-ctl and the tests; the entrypoint itself
// loads only what an instance speaks (instance.ts), without the operator API.
import descriptor from './generated/descriptor.json';
import type { ProtoGrpcType as ControlProto } from './generated/control.js';
import type { ProtoGrpcType as WaypointProto } from './generated/entrypoint.js';
import type { ProtoGrpcType as StatusProto } from './generated/status.js';
import type { ProtoGrpcType as TunnelProto } from './generated/tunnel.js';
import { defineServices } from './define.js';

export { grpc, LOADER_OPTIONS } from './define.js';

/** Only the services are defined at run time (the message types are for TypeScript). */
export type Protocol = WaypointProto & ControlProto & TunnelProto & StatusProto;

let loaded: Protocol | undefined;

/** Clients and service definitions of every package: hashicorp.waypoint, our control API, the tunnel, the instance status. */
export function protocol(): Protocol {
  loaded ??= defineServices(descriptor) as unknown as Protocol;
  return loaded;
}
