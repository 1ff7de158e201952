// gRPC over node:http2 as grpc-js's client puts it on the wire, for the fleet simulator
// (fleet-instances.mjs): one session per instance with grpc-js's HTTP/2 settings and keepalive
// pings, its request headers, and its length-prefixed messages. Only what an entrypoint uses:
// unary calls and server-streaming calls, no compression, no TLS.
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import path from 'node:path';
import { ROOT } from './lib.mjs';

const require = createRequire(path.join(ROOT, 'package.json'));
const GRPC_JS_VERSION = require('@grpc/grpc-js/package.json').version;
const { version } = require(path.join(ROOT, 'package.json'));
// As dial.ts names the entrypoint (grpc.primary_user_agent), then grpc-js itself.
const USER_AGENT = `waypoint-entrypoint/${version} grpc-node-js/${GRPC_JS_VERSION}`;
/** The entrypoint's keepalive (src/connection/dial.ts): a ping every 30 s, on idle too. */
const KEEPALIVE_TIME_MS = 30_000;
// Waypoint's inline keepalive (src/protocol/keepalive.ts): field 100000000 (length-delimited),
// "inline_keepalive".
const INLINE_KEEPALIVE = Buffer.from([...varint(100_000_000 * 8 + 2), 16, ...Buffer.from('inline_keepalive')]);

function varint(value) {
  const bytes = [];
  for (let v = value; ; v = Math.floor(v / 0x80)) {
    if (v < 0x80) return [...bytes, v];
    bytes.push((v % 0x80) | 0x80);
  }
}

/** An HTTP/2 session as grpc-js's transport opens one, pinging every KEEPALIVE_TIME_MS. */
export function wireSession(addr) {
  const session = http2.connect(`http://${addr}`, {
    settings: { initialWindowSize: http2.getDefaultSettings().initialWindowSize ?? 65_535 },
    maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
  });
  session.authority = addr;
  session.on('error', () => {}); // each call sees its stream fail
  const ping = setInterval(() => {
    if (!session.destroyed) session.ping(() => {});
  }, KEEPALIVE_TIME_MS);
  ping.unref();
  session.on('close', () => clearInterval(ping));
  return session;
}

/** grpc-js's grpc-timeout: the deadline in the smallest unit that keeps it under 8 digits. */
function timeoutHeader(ms) {
  for (const [unit, factor] of [['m', 1], ['S', 1000], ['M', 60_000], ['H', 3_600_000]]) {
    if (ms / factor < 1e8) return `${Math.ceil(ms / factor)}${unit}`;
  }
  throw new Error('deadline too far');
}

function frame(message) {
  const out = Buffer.allocUnsafe(5 + message.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * Starts a call of `method` (a @grpc/proto-loader method definition). `onMessage(decoded)` for
 * each message but inline keepalives; `onEnd(error?)` once, with no error on an OK status.
 */
export function openCall(session, method, request, metadata, { deadlineMs, onMessage, onEnd }) {
  const headers = {
    ...metadata,
    'grpc-accept-encoding': 'identity,deflate,gzip',
    'accept-encoding': 'identity',
    ...(deadlineMs !== undefined && { 'grpc-timeout': timeoutHeader(deadlineMs) }),
    ':authority': session.authority,
    'user-agent': USER_AGENT,
    'content-type': 'application/grpc',
    ':method': 'POST',
    ':path': method.path,
    te: 'trailers',
  };
  let ended = false;
  const end = (err) => {
    if (ended) return;
    ended = true;
    onEnd(err);
  };
  let stream;
  try {
    stream = session.request(headers);
  } catch (err) {
    queueMicrotask(() => end(err));
    return;
  }
  let pending = Buffer.alloc(0);
  stream.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      const message = pending.subarray(5, 5 + length);
      pending = pending.subarray(5 + length);
      if (message.equals(INLINE_KEEPALIVE)) continue;
      onMessage(method.responseDeserialize(message));
    }
  });
  const status = (h) => {
    if (h['grpc-status'] === undefined) return;
    const code = Number(h['grpc-status']);
    end(code === 0 ? undefined : new Error(`status ${code}: ${decodeURIComponent(h['grpc-message'] ?? '')}`));
  };
  stream.on('response', status); // trailers-only
  stream.on('trailers', status);
  stream.on('close', () => end(new Error(`stream closed (${stream.rstCode ?? 'no status'})`)));
  stream.on('error', (err) => end(err));
  stream.end(frame(method.requestSerialize(request)));
}

/** A unary call: resolves with its response, rejects with its status. */
export function unaryCall(session, method, request, metadata, deadlineMs) {
  return new Promise((resolve, reject) => {
    let response;
    openCall(session, method, request, metadata, {
      deadlineMs,
      onMessage: (m) => (response = m),
      onEnd: (err) => (err ? reject(err) : response ? resolve(response) : reject(new Error('no response'))),
    });
  });
}
