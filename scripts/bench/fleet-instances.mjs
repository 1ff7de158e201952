// One process of the fleet simulator (fleet.mjs): FLEET_WORKER's `count` instances of one
// deployment, each as an entrypoint is on the wire: a channel (HTTP/2 connection) of its own,
// the invite exchanged for a token of its own, then one EntrypointConfig stream held open. What
// it sees goes to the parent over IPC: when every instance has its first config (registered),
// and, asked for a round, when each instance got the config carrying FLEET_ROUND=<round>.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './lib.mjs';

const require = createRequire(path.join(ROOT, 'package.json'));
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const { addr, deployment, invite, count, first, concurrency } = JSON.parse(process.env.FLEET_WORKER);
const descriptor = JSON.parse(readFileSync(path.join(ROOT, 'src/protocol/generated/descriptor.json'), 'utf8'));
const definition = protoLoader.fromJSON(descriptor, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const { Waypoint } = grpc.loadPackageDefinition(definition).hashicorp.waypoint;

// As the entrypoint dials (src/connection/dial.ts): a connection per instance, pings on idle.
const CHANNEL_OPTIONS = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.service_config_disable_resolution': 1,
  'grpc.enable_retries': 0,
};

function metadata(token) {
  const m = new grpc.Metadata();
  m.set('client-api-protocol', '1,1');
  m.set('client-entrypoint-protocol', '1,1');
  m.set('client-version', 'fleet-simulator');
  if (token) {
    m.set('authorization', token);
    m.set('waypoint-token', token);
  }
  return m;
}

/** round → Date.now() at which each instance got that round's config. */
const arrivals = new Map();
const errors = new Map();
let registered = 0;
let lost = 0;

function noteError(what, err) {
  const key = `${what}: ${err.details || err.message}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
}

function roundOf(config) {
  const v = config?.env_vars?.find((e) => e.name === 'FLEET_ROUND');
  return v?.static ? Number(v.static) : undefined;
}

/** Resolves once the instance has its first config; false when it could not register. */
function instance(index) {
  return new Promise((resolve) => {
    const client = new Waypoint(addr, grpc.credentials.createInsecure(), CHANNEL_OPTIONS);
    client.ConvertInviteToken({ token: invite }, metadata(), { deadline: Date.now() + 60_000 }, (err, res) => {
      if (err) {
        noteError('ConvertInviteToken', err);
        client.close();
        resolve(false);
        return;
      }
      const call = client.EntrypointConfig(
        { deployment_id: deployment, instance_id: `fleet-${index}`, type: 'LONG_RUNNING' },
        metadata(res.token),
      );
      let first = true;
      let lastRound;
      call.on('data', (msg) => {
        const at = Date.now();
        if (first) {
          first = false;
          registered++;
          resolve(true);
        }
        const round = roundOf(msg.config);
        if (round !== undefined && round !== lastRound) {
          lastRound = round;
          if (!arrivals.has(round)) arrivals.set(round, []);
          arrivals.get(round).push(at);
        }
      });
      call.on('error', (e) => {
        if (first) {
          noteError('EntrypointConfig', e);
          resolve(false);
        } else {
          lost++;
        }
      });
    });
  });
}

async function openAll() {
  let next = 0;
  const lane = async () => {
    while (next < count) await instance(first + next++);
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  process.send({ type: 'ready', registered, failed: count - registered, errors: Object.fromEntries(errors) });
}

/** Answers a round once every registered instance has it, or after `waitMs`. */
async function collect(round, waitMs) {
  const deadline = Date.now() + waitMs;
  while ((arrivals.get(round)?.length ?? 0) < registered - lost && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  process.send({ type: 'round', round, times: arrivals.get(round) ?? [], lost });
}

process.on('message', (msg) => {
  if (msg.type === 'collect') collect(msg.round, msg.waitMs);
  if (msg.type === 'exit') process.exit(0);
});
process.on('disconnect', () => process.exit(0));
openAll();
