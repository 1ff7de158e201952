// server/api/ holds the gRPC services (Waypoint's for entrypoints, our control API for the ctl,
// the instance status): adapters from messages and calls onto the concerns' folders, so that
// what a service offers can be read here and what it does there.
//
// The server's own copy of Waypoint's service definition. It differs from the shared one in two
// ways. EntrypointLogStream's requests are decoded by our own decoder (logs/wire-decode.ts), far
// cheaper than protobufjs at a million lines a second; it turns a keepalive into KEEPALIVE too.
// And the response serializers of the server-streaming methods pass a Buffer through as raw
// bytes. That is how the server writes an inline keepalive (INLINE_KEEPALIVE_BYTES, a message
// of no type of the method) on a config or exec stream: `call.write(INLINE_KEEPALIVE_BYTES)`.
// Every other response is a plain object and is encoded as usual. The other request
// deserializers are the shared ones, which already turn a client's keepalive into KEEPALIVE.
// Exec's bytes are relayed without a decode and encode (exec/relay-wire.ts): EntrypointExecStream's
// output messages and Control.Exec's input messages keep their bytes, and Control.Exec passes a
// Buffer through as an encoded response too.
import type { ServiceDefinition } from '@grpc/grpc-js';
import { protocol } from '../../protocol/load.js';
import { decodeRawInput, decodeRawOutput } from '../exec/relay-wire.js';
import { deserializeLogStreamMessage } from '../logs/wire-decode.js';

const RAW_RESPONSE_METHODS = ['EntrypointConfig', 'EntrypointExecStream'] as const;

export function waypointServiceDefinition(): ServiceDefinition {
  const shared = protocol().hashicorp.waypoint.Waypoint.service as ServiceDefinition;
  const own: Record<string, ServiceDefinition[string]> = { ...shared };
  for (const name of RAW_RESPONSE_METHODS) {
    const method = shared[name];
    const serialize = method.responseSerialize;
    own[name] = { ...method, responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : serialize(value)) };
  }
  own.EntrypointLogStream = { ...shared.EntrypointLogStream, requestDeserialize: deserializeLogStreamMessage };
  const exec = own.EntrypointExecStream;
  own.EntrypointExecStream = { ...exec, requestDeserialize: (b: Buffer) => decodeRawOutput(b) ?? exec.requestDeserialize(b) };
  return own;
}

/** Our tunnel service (the URL service), beside Waypoint's on the same port. */
export function tunnelServiceDefinition(): ServiceDefinition {
  return protocol().waypoint_entrypoint.tunnel.v1.Tunnel.service as ServiceDefinition;
}

export function controlServiceDefinition(): ServiceDefinition {
  const shared = protocol().waypoint_entrypoint.control.v1.Control.service as ServiceDefinition;
  const exec = shared.Exec;
  return {
    ...shared,
    Exec: {
      ...exec,
      requestDeserialize: (b: Buffer) => decodeRawInput(b) ?? exec.requestDeserialize(b),
      responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : exec.responseSerialize(value)),
    },
  };
}

/** Our instance status service, beside Waypoint's on the same port. */
export function statusServiceDefinition(): ServiceDefinition {
  return protocol().waypoint_entrypoint.status.v1.InstanceStatus.service as ServiceDefinition;
}
