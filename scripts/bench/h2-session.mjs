// What one connection costs a bare node:http2 server, whatever its options (issue 16: the floor
// under the fleet's RSS per instance). A server in this process; N clients in a child, each a
// connection of its own with the fleet's pattern (two short calls, then one stream held open with
// a message sent on it). Per connection: the growth of the main thread's malloc heap ([heap] in
// smaps: nghttp2 and Node's native objects) and of V8's used heap, after GCs, for each variant of
// the server's options.
//   node scripts/bench/h2-session.mjs        (BENCH_H2_SESSIONS, default 1000)
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import { fileURLToPath } from 'node:url';
import { envInt, markdownTable } from './lib.mjs';

const N = envInt('BENCH_H2_SESSIONS', 1000);
const HEADERS = { 'content-type': 'application/grpc', te: 'trailers', authorization: 'x'.repeat(300), 'user-agent': 'grpc-node-js' };

/** The variants: grpc-js's own options (and our header tables of 0), then each option that might size a session. */
const BASE = { maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER, maxSessionMemory: Number.MAX_SAFE_INTEGER, maxDeflateDynamicTableSize: 0, settings: { headerTableSize: 0 } };
const VARIANTS = [
  ['grpc-js + header tables 0 (ours)', {}],
  ['maxSessionMemory: 1 (MB)', { maxSessionMemory: 1 }],
  ['maxHeaderListSize: 16384', { settings: { headerTableSize: 0, maxHeaderListSize: 16_384 } }],
  ['maxConcurrentStreams: 100', { settings: { headerTableSize: 0, maxConcurrentStreams: 100 } }],
  ['initialWindowSize: 16384', { settings: { headerTableSize: 0, initialWindowSize: 16_384 } }],
  ['peerMaxConcurrentStreams: 10', { peerMaxConcurrentStreams: 10 }],
  ['no RFC 7540 priorities (customSettings 9)', { settings: { headerTableSize: 0, customSettings: { 9: 1 } } }],
];

async function client(port, n) {
  const call = (session, path, hold) =>
    new Promise((resolve) => {
      const stream = session.request({ ':method': 'POST', ':path': path, ...HEADERS });
      stream.end(Buffer.alloc(60, 1));
      stream.on('data', () => hold && resolve());
      stream.on('end', resolve);
      stream.on('error', resolve);
    });
  const one = async () => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    await call(session, '/short', false);
    await call(session, '/short', false);
    await call(session, '/held', true);
  };
  for (let i = 0; i < n; i += 50) await Promise.all(Array.from({ length: Math.min(50, n - i) }, one));
  process.send('ready');
}

function heapRssBytes() {
  let kib = 0;
  let inHeap = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) inHeap = line.endsWith('[heap]');
    else if (inHeap && line.startsWith('Rss:')) kib += Number(/(\d+)/.exec(line)[1]);
  }
  return kib * 1024;
}

async function settled() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 200));
  }
  return { malloc: heapRssBytes(), v8: process.memoryUsage().heapUsed };
}

async function measure(options) {
  const held = [];
  const server = http2.createServer({ ...BASE, ...options });
  server.on('stream', (stream, headers) => {
    stream.resume();
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    if (headers[':path'] === '/held') {
      stream.write(Buffer.alloc(400, 2));
      held.push(stream);
      return;
    }
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.alloc(100, 3));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const before = await settled();
  const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, H2_CLIENT: `${server.address().port},${N}` } });
  await new Promise((r) => child.once('message', r));
  const after = await settled();
  child.kill('SIGKILL');
  await new Promise((r) => server.close(r));
  for (const s of held) s.destroy();
  return { malloc: (after.malloc - before.malloc) / N, v8: (after.v8 - before.v8) / N, held: held.length };
}

/** Each variant in a process of its own: a heap that the one before grew would hide the growth. */
function variant(index) {
  return new Promise((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, H2_VARIANT: String(index) }, execArgv: ['--expose-gc'] });
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`variant ${VARIANTS[index][0]} exited ${code}`)));
  });
}

async function main() {
  const rows = [];
  for (let i = 0; i < VARIANTS.length; i++) {
    const r = await variant(i);
    rows.push([VARIANTS[i][0], `${(r.malloc / 1000).toFixed(1)} KB`, `${(r.v8 / 1000).toFixed(1)} KB`, String(r.held)]);
  }
  console.log(`\n## node:http2 server, ${N} connections with one stream held open each\n`);
  console.log(markdownTable(['server options', 'malloc heap per connection', "V8's heap per connection", 'streams held'], rows));
}

if (process.env.H2_CLIENT) {
  const [port, n] = process.env.H2_CLIENT.split(',').map(Number);
  await client(port, n);
} else if (process.env.H2_VARIANT) {
  process.send(await measure(VARIANTS[Number(process.env.H2_VARIANT)][1]));
  process.exit(0);
} else {
  main().catch((err) => {
    console.error(`bench h2-session: ${err.message}`);
    process.exit(1);
  });
}
