// Our service definitions (src/protocol/load.ts, straight from protobufjs) against proto-loader's
// for the same descriptor: every method with the same path, streaming, name, and serializers
// that write the same bytes and read back the same objects.
import { describe, expect, it } from 'vitest';
import * as protoLoader from '@grpc/proto-loader';
import descriptor from '../../../src/protocol/generated/descriptor.json';
import { instanceProtocol } from '../../../src/protocol/instance.js';
import { LOADER_OPTIONS, protocol } from '../../../src/protocol/load.js';

type Method = {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  originalName?: string;
  requestSerialize(v: unknown): Buffer;
  requestDeserialize(b: Buffer): unknown;
  responseSerialize(v: unknown): Buffer;
  responseDeserialize(b: Buffer): unknown;
};

const reference = protoLoader.fromJSON(descriptor as Parameters<typeof protoLoader.fromJSON>[0], LOADER_OPTIONS);
const ours: Record<string, Record<string, Method>> = {
  'hashicorp.waypoint.Waypoint': protocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, Method>,
  'waypoint_entrypoint.control.v1.Control': protocol().waypoint_entrypoint.control.v1.Control.service as unknown as Record<string, Method>,
};

/** A message of each kind the methods take, with the fields that matter to the conversions. */
const samples: Record<string, unknown[]> = {
  GetVersionInfo: [{}, { info: { api: { current: 1, minimum: 1 }, version: '0.1.0' }, server_features: { features: ['FEATURE_INLINE_KEEPALIVES'] } }],
  EntrypointConfig: [
    { instance_id: 'i', deployment_id: 'd', type: 'LONG_RUNNING', disable_exec: true },
    { config: { instance_id: 'i', env_vars: [{ name: 'A', static: 'x' }, { name: 'F', static: 'y', name_is_path: true }], file_change_signal: 'SIGUSR2' } },
  ],
  EntrypointLogStream: [{ instance_id: 'i', lines: [{ line: 'a\n', source: 'ENTRYPOINT', timestamp: { seconds: '1700000000', nanos: 5 } }] }, {}],
  GetLogs: [{ app: 'web', follow: true, source: 'APP' }, { lines: [{ instance_id: 'i', line: 'x', timestamp: { seconds: '-5', nanos: 1 } }], dropped: '9007199254740993' }],
};

describe('service definitions without proto-loader', () => {
  it('define every method proto-loader defines, alike', () => {
    for (const [service, methods] of Object.entries(ours)) {
      const ref = reference[service] as unknown as Record<string, Method>;
      expect(Object.keys(methods).sort()).toEqual(Object.keys(ref).sort());
      for (const [name, m] of Object.entries(methods)) {
        expect([m.path, m.requestStream, m.responseStream, m.originalName], name).toEqual([ref[name].path, ref[name].requestStream, ref[name].responseStream, ref[name].originalName]);
      }
    }
  });

  it('write the same bytes and read the same objects (defaults, enums and 64-bit integers as strings)', () => {
    for (const [service, methods] of Object.entries(ours)) {
      const ref = reference[service] as unknown as Record<string, Method>;
      for (const [name, m] of Object.entries(methods)) {
        const [request, response] = samples[name] ?? [{}, {}];
        for (const [value, ser, deser, refSer, refDeser] of [
          [request, m.requestSerialize, m.requestDeserialize, ref[name].requestSerialize, ref[name].requestDeserialize],
          [response, m.responseSerialize, m.responseDeserialize, ref[name].responseSerialize, ref[name].responseDeserialize],
        ] as const) {
          const bytes = ser(value);
          expect(Buffer.from(bytes).equals(Buffer.from(refSer(value))), `${name} serialize`).toBe(true);
          // Our Waypoint deserializers map inline keepalives first; a real message reads as ever.
          expect(deser(bytes), `${name} deserialize`).toEqual(refDeser(bytes));
        }
      }
    }
  });

  it('refuse an array as a message, as proto-loader does', () => {
    expect(() => ours['hashicorp.waypoint.Waypoint'].GetVersionInfo.responseSerialize([])).toThrow(/expected object with GetVersionInfoResponse structure, got array/);
  });
});

describe('the instance protocol (what the entrypoint loads)', () => {
  const services = (pkg: object) => {
    const found: Record<string, string[]> = {};
    const visit = (node: object, prefix: string) => {
      for (const [name, value] of Object.entries(node)) {
        if (typeof value === 'function' && 'service' in value) found[prefix + name] = Object.values(value.service as Record<string, Method>).map((m) => m.path);
        else if (value && typeof value === 'object' && !('format' in value)) visit(value, `${prefix + name}.`);
      }
    };
    visit(pkg, '');
    return found;
  };

  it('has every service of the full protocol but the operator API, with the same methods', () => {
    const full = services(protocol());
    const instance = services(instanceProtocol());
    expect(Object.keys(full)).toContain('waypoint_entrypoint.control.v1.Control');
    const { 'waypoint_entrypoint.control.v1.Control': _control, ...rest } = full;
    expect(instance).toEqual(rest);
  });

  it('serializes as the full protocol does', () => {
    const ours = instanceProtocol().hashicorp.waypoint.Waypoint.service as unknown as Record<string, Method>;
    const [request] = samples.EntrypointLogStream;
    expect(Buffer.from(ours.EntrypointLogStream.requestSerialize(request)).equals(Buffer.from((reference['hashicorp.waypoint.Waypoint'] as unknown as Record<string, Method>).EntrypointLogStream.requestSerialize(request)))).toBe(true);
  });
});
