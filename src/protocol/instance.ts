// What an instance (the entrypoint) speaks: the Waypoint entrypoint API, the tunnel and the
// instance status, from a descriptor without our operator API (control.proto, the server's and
// waypoint-ctl's). Its ~60 messages and ~20 methods would be reflected, held, and shipped in the
// connection chunk for nothing (measured: docs/release.md, "Issue 11's budgets").
import descriptor from './generated/instance-descriptor.json';
import type { ProtoGrpcType as WaypointProto } from './generated/entrypoint.js';
import type { ProtoGrpcType as StatusProto } from './generated/status.js';
import type { ProtoGrpcType as TunnelProto } from './generated/tunnel.js';
import { defineServices } from './define.js';

export { grpc } from './define.js';

export type InstanceProtocol = WaypointProto & TunnelProto & StatusProto;

let loaded: InstanceProtocol | undefined;

export function instanceProtocol(): InstanceProtocol {
  loaded ??= defineServices(descriptor) as unknown as InstanceProtocol;
  return loaded;
}
