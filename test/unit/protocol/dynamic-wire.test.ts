// A config as a Waypoint server sends it for dynamic config (issue 15): a dynamic var
// (ConfigVar.dynamic = 6) and its sources (EntrypointConfig.config_sources = 5) in the scope order
// global -> project -> application, with a workspace. Encoded by protobufjs from a proto written
// here with Waypoint's field numbers (server.proto), independently of ours, and decoded by our
// instance loader: the resolver gets the var, and for its type the app's settings.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { mergeSources } from '../../../src/config/dynamic/merge.js';
import { dynamicVars, resolveConfig } from '../../../src/config/resolve.js';
import type { EntrypointConfigResponse__Output } from '../../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { instanceProtocol } from '../../../src/protocol/instance.js';

const require = createRequire(import.meta.url);
const protobuf = require('protobufjs') as typeof import('protobufjs');

const WAYPOINT = `
syntax = "proto3";
package hashicorp.waypoint;
message Empty {}
message Ref {
  message Global {}
  message Application { string application = 1; string project = 2; }
  message Project { string project = 1; }
  message Workspace { string workspace = 1; }
}
message ConfigSource {
  bool delete = 3;
  oneof scope { Ref.Global global = 50; Ref.Project project = 51; Ref.Application application = 52; }
  Ref.Workspace workspace = 5;
  string type = 1;
  map<string, string> config = 2;
  uint64 hash = 4;
}
message ConfigVar {
  string name = 1;
  oneof value { Empty unset = 7; string static = 2; DynamicVal dynamic = 6; }
  bool internal = 8;
  bool name_is_path = 9;
  message DynamicVal { string from = 1; map<string, string> config = 2; }
}
message EntrypointConfig {
  repeated ConfigVar env_vars = 2;
  repeated ConfigSource config_sources = 5;
  string file_change_signal = 6;
}
message EntrypointConfigResponse { EntrypointConfig config = 2; }
`;

describe("Waypoint's dynamic config on the wire", () => {
  it('a dynamic var and sources global -> project -> app decode as the resolver takes them', () => {
    const root = protobuf.parse(WAYPOINT, { keepCase: true }).root;
    const type = root.lookupType('hashicorp.waypoint.EntrypointConfigResponse');
    const bytes = type
      .encode(
        type.fromObject({
          config: {
            env_vars: [
              { name: 'DB_PASSWORD', dynamic: { from: 'vault', config: { path: 'secret/data/db', key: '/data/password' } } },
              { name: 'DB_USER', dynamic: { from: 'null', config: { static_value: 'app' } }, internal: true },
              { name: 'DB_URL', static: 'postgres://${config.internal.DB_USER}@db' },
            ],
            config_sources: [
              { type: 'vault', config: { addr: 'https://global:8200' }, global: {}, hash: '11' },
              { type: 'vault', config: { addr: 'https://project:8200', namespace: 'p' }, project: { project: 'p' }, hash: '12' },
              { type: 'vault', config: { addr: 'https://app:8200' }, application: { application: 'web', project: 'p' }, workspace: { workspace: 'prod' }, hash: '18446744073709551615' },
              { type: 'null', config: {}, global: {}, hash: '3' },
            ],
          },
        }),
      )
      .finish();

    const service = instanceProtocol().hashicorp.waypoint.Waypoint.service;
    const decoded = service.EntrypointConfig.responseDeserialize(Buffer.from(bytes)) as EntrypointConfigResponse__Output;
    const config = decoded.config!;
    expect(config.config_sources.map((s) => [s.type, s.scope, s.hash])).toEqual([
      ['vault', 'global', '11'],
      ['vault', 'project', '12'],
      ['vault', 'application', '18446744073709551615'],
      ['null', 'global', '3'],
    ]);
    expect(config.config_sources[2].application).toEqual({ application: 'web', project: 'p' });
    expect(config.config_sources[2].workspace).toEqual({ workspace: 'prod' });

    expect(dynamicVars(config.env_vars)).toEqual([
      { name: 'DB_PASSWORD', from: 'vault', config: { path: 'secret/data/db', key: '/data/password' }, internal: false, file: false },
      { name: 'DB_USER', from: 'null', config: { static_value: 'app' }, internal: true, file: false },
    ]);
    const merged = mergeSources(config.config_sources);
    expect(merged.get('vault')).toEqual({ addr: 'https://app:8200' });
    expect(merged.get('null')).toEqual({});
    // Once read, the internal dynamic value interpolates into the static one.
    const env = resolveConfig(config.env_vars, new Map([['DB_USER', 'app'], ['DB_PASSWORD', 'pw']])).env;
    expect(Object.fromEntries(env)).toEqual({ DB_PASSWORD: 'pw', DB_URL: 'postgres://app@db' });
  });
});
