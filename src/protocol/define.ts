// gRPC service definitions from a JSON descriptor that scripts/gen-proto.mjs embeds at build time
// (no .proto file is read at run time). Import this only where gRPC is really used: loading
// @grpc/grpc-js costs tens of milliseconds that disabled mode must not pay.
//
// The services are defined from protobufjs's reflection, as proto-loader would define them (the
// same serializers: fromObject + encode, decode + toObject with LOADER_OPTIONS) minus what only
// gRPC reflection needs: proto-loader also builds every message's descriptor, which cost ~15 ms
// of the entrypoint's connected start-up, for nothing we use.
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition, Options, PackageDefinition } from '@grpc/proto-loader';
import * as protobuf from 'protobufjs/light';
import { dropInlineKeepalives } from './keepalive.js';

/** Must match the flags scripts/gen-proto.mjs gives proto-loader-gen-types. */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
};

/** Clients and service definitions of every package of `descriptor`, as grpc.loadPackageDefinition makes them. */
export function defineServices(descriptor: unknown): grpc.GrpcObject {
  const definition = packageDefinition(protobuf.Root.fromJSON(descriptor as protobuf.INamespace));
  dropInlineKeepalives(definition);
  return grpc.loadPackageDefinition(definition);
}

/** Every service of the root, by full name, each method as proto-loader defines it. */
function packageDefinition(root: protobuf.Root): PackageDefinition {
  root.resolveAll();
  const definition: PackageDefinition = {};
  const visit = (ns: protobuf.NamespaceBase, prefix: string) => {
    for (const child of ns.nestedArray) {
      const name = prefix + child.name;
      if (child instanceof protobuf.Service) {
        const methods: Record<string, MethodDefinition<object, object>> = {};
        for (const m of child.methodsArray) methods[m.name] = methodDefinition(m, name);
        definition[name] = methods;
      } else if (child instanceof protobuf.Namespace) visit(child, `${name}.`);
    }
  };
  visit(root, '');
  return definition;
}

function methodDefinition(method: protobuf.Method, service: string): MethodDefinition<object, object> {
  const request = method.resolvedRequestType!;
  const response = method.resolvedResponseType!;
  return {
    path: `/${service}/${method.name}`,
    requestStream: !!method.requestStream,
    responseStream: !!method.responseStream,
    requestSerialize: serializer(request),
    requestDeserialize: deserializer(request),
    responseSerialize: serializer(response),
    responseDeserialize: deserializer(response),
    originalName: method.name.charAt(0).toLowerCase() + method.name.slice(1),
  } as MethodDefinition<object, object>;
}

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`Failed to serialize message: expected object with ${type.name} structure, got array instead`);
    return type.encode(type.fromObject(value)).finish() as Buffer;
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => object {
  return (bytes) => type.toObject(type.decode(bytes), LOADER_OPTIONS as protobuf.IConversionOptions);
}

export { grpc };
