// From proto/ to src/protocol/generated/: JSON descriptors (inlined into the bundles by esbuild,
// so nothing reads a .proto at run time, inside the single binary neither) and TypeScript types.
// descriptor.json has every package (the server and waypoint-ctl); instance-descriptor.json only
// what an instance speaks (src/protocol/instance.ts): the entrypoint has no use for the operator API.
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

export const PROTO_FILES = [
  'hashicorp/waypoint/entrypoint.proto',
  'waypoint_entrypoint/control/v1/control.proto',
  'waypoint_entrypoint/tunnel/v1/tunnel.proto',
  'waypoint_entrypoint/status/v1/status.proto',
];
/** The packages an instance (the entrypoint) speaks: all but the operator API (control.proto). */
export const INSTANCE_PROTO_FILES = PROTO_FILES.filter((file) => !file.includes('/control/'));
const PROTO_DIR = path.join(root, 'proto');
const OUT_DIR = path.join(root, 'src/protocol/generated');
/** protobufjs ships the well-known types (google/protobuf/*.proto) beside its code. */
const WELL_KNOWN_DIR = path.dirname(require.resolve('protobufjs/package.json'));

function descriptor(files) {
  const protoRoot = new protobuf.Root();
  protoRoot.resolvePath = (_origin, target) => {
    for (const dir of [PROTO_DIR, WELL_KNOWN_DIR]) {
      const candidate = path.join(dir, target);
      try {
        require('node:fs').accessSync(candidate);
        return candidate;
      } catch {
        // next include dir
      }
    }
    return target;
  };
  protoRoot.loadSync(files, { keepCase: true });
  protoRoot.resolveAll();
  return protoRoot.toJSON({ keepComments: false });
}

function types() {
  const bin = path.join(path.dirname(require.resolve('@grpc/proto-loader/package.json')), 'build/bin/proto-loader-gen-types.js');
  const r = spawnSync(
    process.execPath,
    [
      bin,
      // Must match the options src/protocol/load.ts gives proto-loader.
      '--keepCase',
      '--longs=String',
      '--enums=String',
      '--defaults',
      '--oneofs',
      '--grpcLib=@grpc/grpc-js',
      `--outDir=${OUT_DIR}`,
      `-I${PROTO_DIR}`,
      ...PROTO_FILES,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`proto-loader-gen-types failed:\n${r.stdout}${r.stderr}`);
}

rmSync(OUT_DIR, { recursive: true, force: true });
mkdirSync(OUT_DIR, { recursive: true });
writeFileSync(path.join(OUT_DIR, 'descriptor.json'), `${JSON.stringify(descriptor(PROTO_FILES))}\n`);
writeFileSync(path.join(OUT_DIR, 'instance-descriptor.json'), `${JSON.stringify(descriptor(INSTANCE_PROTO_FILES))}\n`);
types();
