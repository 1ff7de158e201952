// The floor under the connected entrypoint's idle RSS: what the embedded Node itself costs, idle,
// with what a connected instance cannot do without, each a process of its own (BENCH_IDLE_N of
// each, default 3, interleaved; medians after BENCH_IDLE_SETTLE s, default 15):
//   bare         setTimeout only (the runtime alone)
//   net          one TCP connection
//   tls          require('tls'): Node 24 starts parsing its bundled root certificates on a thread
//   http2        an HTTP/2 client with one open stream to a local server (Node's http2 loads tls)
//   grpc-js      @grpc/grpc-js (from node_modules) with one open bidirectional stream
// and the same with --use-openssl-ca, which skips that preload (it swaps Node's bundled CA store
// for OpenSSL's, a behaviour change; shown only to put a number on the preload).
//   node scripts/bench/runtime-floor.mjs
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import path from 'node:path';
import { nodeRuntime, PINNED } from '../release/node-runtime.mjs';
import { envInt, markdownTable, median, ROOT } from './lib.mjs';

const CHILD = `
const [mode, port, grpcDir] = process.argv.slice(1);
setInterval(() => {}, 1 << 30);
if (mode === 'net') require('net').connect(+port, '127.0.0.1').on('data', () => {});
if (mode === 'tls') require('tls');
if (mode === 'http2') {
  const stream = require('http2').connect('http://127.0.0.1:' + port).request({ ':method': 'POST', ':path': '/x.Y/Z', 'content-type': 'application/grpc' }, { endStream: false });
  stream.on('data', () => {});
}
if (mode === 'grpc-js') {
  const grpc = require(grpcDir);
  const id = (b) => b;
  const Client = grpc.makeGenericClientConstructor({ z: { path: '/x.Y/Z', requestStream: true, responseStream: true, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } });
  const client = new Client('127.0.0.1:' + port, grpc.credentials.createInsecure(), { 'grpc.keepalive_time_ms': 30000, 'grpc.keepalive_permit_without_calls': 1, 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_retries': 0 });
  const call = client.z();
  call.on('data', () => {});
  call.on('error', (err) => console.error(err.message));
  call.write(Buffer.alloc(0));
}
`;

const statusMiB = (pid, key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  const n = envInt('BENCH_IDLE_N', 3);
  const settleS = envInt('BENCH_IDLE_SETTLE', 15);
  const node = path.join(await nodeRuntime({ target: 'linux-x64', pin: PINNED }), 'bin/node');
  // A server that answers every stream's headers and keeps it open, like an idle gRPC stream.
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
    stream.on('data', () => {});
    stream.on('error', () => {});
  });
  server.on('connection', (socket) => socket.on('error', () => {}));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = String(server.address().port);
  const grpcDir = path.join(ROOT, 'node_modules/@grpc/grpc-js');
  const cases = ['bare', 'net', 'tls', 'http2', 'grpc-js'].flatMap((mode) => [
    { name: mode, mode, flags: [] },
    ...(['tls', 'http2', 'grpc-js'].includes(mode) ? [{ name: `${mode}, --use-openssl-ca`, mode, flags: ['--use-openssl-ca'] }] : []),
  ]);
  for (const c of cases) c.children = [];
  try {
    for (let i = 0; i < n; i++) for (const c of cases) c.children.push(spawn(node, [...c.flags, '-e', CHILD, c.mode, port, grpcDir], { stdio: ['ignore', 'ignore', 'inherit'] }));
    await sleep(settleS * 1000);
    const rows = cases.map((c) => {
      const med = (key) => median(c.children.map((child) => statusMiB(child.pid, key)).sort((a, b) => a - b)).toFixed(1);
      return [c.name, med('VmRSS'), med('RssAnon'), med('RssFile')];
    });
    process.stdout.write(`## Node ${PINNED.version} idle, ${n} processes each, after ${settleS} s (medians, MiB)\n\n`);
    process.stdout.write(`${markdownTable(['case', 'RSS', 'RssAnon', 'RssFile'], rows)}\n`);
  } finally {
    for (const c of cases) for (const child of c.children) child.kill('SIGKILL');
    server.close();
  }
}

main().then(
  () => process.exit(process.exitCode ?? 0), // the server's open streams would keep us alive
  (err) => {
    process.stderr.write(`bench: error: ${err.message}\n`);
    process.exit(1);
  },
);
