// One process of the fleet simulator (fleet.mjs): FLEET_WORKER's `count` instances of one
// deployment, each as an entrypoint is on the wire: an HTTP/2 connection of its own, pinged when
// idle, GetVersionInfo, the invite exchanged for a token of its own, then one EntrypointConfig
// stream held open. What it sees goes to the parent over IPC: when every instance has its first
// config (registered), and, asked for a round, when each instance got the config carrying
// FLEET_ROUND=<round>.
//
// Lighter than a grpc-js client per instance (a channel, resolver, balancer and subchannel each,
// which cost the simulator more CPU than the server it measures), yet the same on the wire:
// grpc-js's own HTTP/2 settings, request headers and message framing (wire.mjs), the
// entrypoint's metadata, keepalive pings, and inline keepalives asked for and dropped.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './lib.mjs';
import { openCall, unaryCall, wireSession } from './wire.mjs';

const require = createRequire(path.join(ROOT, 'package.json'));
const protoLoader = require('@grpc/proto-loader');

const { addr, deployment, invite, count, first, concurrency } = JSON.parse(process.env.FLEET_WORKER);
const descriptor = JSON.parse(readFileSync(path.join(ROOT, 'src/protocol/generated/descriptor.json'), 'utf8'));
const definition = protoLoader.fromJSON(descriptor, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
const waypoint = definition['hashicorp.waypoint.Waypoint'];

/** The entrypoint's metadata (src/connection/call-metadata.ts), with its token once it has one. */
function metadata(token) {
  const m = {
    'client-api-protocol': '1,1',
    'client-entrypoint-protocol': '1,1',
    'client-version': 'fleet-simulator',
    'wp-inline-keepalives': 'true',
  };
  return token ? { ...m, authorization: token, 'waypoint-token': token } : m;
}

/** round → Date.now() at which each instance got that round's config. */
const arrivals = new Map();
const errors = new Map();
let registered = 0;
let lost = 0;

function noteError(what, err) {
  const key = `${what}: ${err.message}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
}

function roundOf(config) {
  const v = config?.env_vars?.find((e) => e.name === 'FLEET_ROUND');
  return v?.static ? Number(v.static) : undefined;
}

const UNARY_DEADLINE_MS = 60_000;

/** Resolves once the instance has its first config; false when it could not register. */
async function instance(index) {
  const session = wireSession(addr);
  let step = 'GetVersionInfo';
  try {
    await unaryCall(session, waypoint.GetVersionInfo, {}, metadata(), UNARY_DEADLINE_MS);
    step = 'ConvertInviteToken';
    const { token } = await unaryCall(session, waypoint.ConvertInviteToken, { token: invite }, metadata(), UNARY_DEADLINE_MS);
    step = 'EntrypointConfig';
    await configStream(session, index, token);
    registered++;
    return true;
  } catch (err) {
    noteError(step, err);
    session.destroy();
    return false;
  }
}

/** Opens the config stream; resolves at its first config, then keeps noting the rounds. */
function configStream(session, index, token) {
  return new Promise((resolve, reject) => {
    let first = true;
    let lastRound;
    openCall(session, waypoint.EntrypointConfig, { deployment_id: deployment, instance_id: `fleet-${index}`, type: 'LONG_RUNNING' }, metadata(token), {
      onMessage(config) {
        const at = Date.now();
        if (first) {
          first = false;
          resolve();
        }
        const round = roundOf(config.config);
        if (round !== undefined && round !== lastRound) {
          lastRound = round;
          if (!arrivals.has(round)) arrivals.set(round, []);
          arrivals.get(round).push(at);
        }
      },
      onEnd(err) {
        if (first) reject(err ?? new Error('the stream ended before its first config'));
        else lost++;
      },
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
