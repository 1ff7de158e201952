// The floor of the exec and URL data paths (issue 17): the same hops as ours — an operator's
// client, a server, an entrypoint connected to it over one HTTP/2 connection, and `cat` or the
// app behind it — done by bare Node with nothing of ours on them: no gRPC, no protobuf, no
// message framing, no auth, no logs; each hop is a stream piped into the next. What this moves
// per second on a machine is what a design made of Node processes and HTTP/2 hops can move
// there at best; data-path.mjs runs it beside ours (BENCH_ROOTS=.:floor).
//
// Roles, one per process (argv[2]):
//   server                   HTTP/2 (h2c) for the entrypoint and the client, HTTP/1.1 ingress;
//                            prints "floor server h2=PORT http=PORT"
//   entrypoint URL -- APP... starts the app, keeps one idle stream open to the server for the
//                            next piece of work (exec or an HTTP request), opens another as each
//                            is taken (no control round trip: a floor)
//   client URL -- CMD...     one exec of CMD: our stdin to its stdin, its stdout to our stdout
// The receive windows and frame size are ours (src/server/rpc/receive-window.ts, the clients'
// grpc-node.flow_control_window): the floor of this design, not of other settings.
import { spawn } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';

const STREAM_WINDOW = 256 * 1024;
const SESSION_WINDOW = 1024 * 1024;
const MAX_FRAME = 128 * 1024;
const CLIENT_WINDOW = 1024 * 1024;

const [role, ...rest] = process.argv.slice(2);
const fail = (message) => {
  process.stderr.write(`floor ${role}: ${message}\n`);
  process.exit(1);
};
process.on('uncaughtException', (err) => fail(err.message));

function connect(url) {
  const session = http2.connect(url, { settings: { initialWindowSize: CLIENT_WINDOW, maxFrameSize: MAX_FRAME } });
  session.on('connect', () => session.setLocalWindowSize(CLIENT_WINDOW));
  session.on('error', (err) => fail(err.message));
  return session;
}

function server() {
  const idle = []; // entrypoint streams waiting for work
  const waiting = []; // work waiting for an entrypoint stream
  const take = (work) => (idle.length ? work(idle.shift()) : waiting.push(work));
  const h2 = http2.createServer({ settings: { initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME } });
  h2.on('session', (session) => session.on('connect', () => session.setLocalWindowSize(SESSION_WINDOW)));
  h2.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    if (headers[':path'] === '/accept') return waiting.length ? waiting.shift()(stream) : idle.push(stream);
    if (headers[':path'] !== '/exec') return stream.respond({ ':status': 404 }, { endStream: true });
    take((ep) => {
      ep.respond({ ':status': 200, kind: 'exec', cmd: headers.cmd });
      stream.respond({ ':status': 200 });
      stream.pipe(ep); // the client's stdin → the entrypoint
      ep.pipe(stream); // the command's stdout → the client
    });
  });
  const ingress = http.createServer((req, res) => {
    take((ep) => {
      ep.respond({ ':status': 200, kind: 'http', method: req.method, path: req.url, length: req.headers['content-length'] ?? '' });
      req.pipe(ep);
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      ep.pipe(res);
    });
  });
  h2.listen(0, '127.0.0.1', () =>
    ingress.listen(0, '127.0.0.1', () => process.stdout.write(`floor server h2=${h2.address().port} http=${ingress.address().port}\n`)),
  );
}

function entrypoint(url, app) {
  const child = spawn(app[0], app.slice(1), { stdio: 'inherit' });
  child.on('exit', (code) => process.exit(code ?? 0));
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  const session = connect(url);
  const accept = () => {
    const stream = session.request({ ':method': 'POST', ':path': '/accept' }, { endStream: false });
    stream.on('error', () => undefined);
    stream.once('response', (headers) => {
      accept();
      if (headers.kind === 'exec') {
        const cmd = JSON.parse(headers.cmd);
        const proc = spawn(cmd[0], cmd.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
        stream.pipe(proc.stdin);
        proc.stdout.pipe(stream);
      } else {
        const length = headers.length;
        const req = http.request({ host: '127.0.0.1', port: Number(process.env.PORT), method: headers.method, path: headers.path, headers: length ? { 'content-length': length } : {} }, (res) =>
          res.pipe(stream),
        );
        req.on('error', (err) => stream.destroy(err));
        stream.pipe(req);
      }
    });
  };
  accept();
}

function client(url, cmd) {
  const session = connect(url);
  const stream = session.request({ ':method': 'POST', ':path': '/exec', cmd: JSON.stringify(cmd) }, { endStream: false });
  process.stdin.pipe(stream);
  stream.pipe(process.stdout);
  stream.on('end', () => session.close());
  stream.on('error', (err) => fail(err.message));
}

const dash = rest.indexOf('--');
if (role === 'server') server();
else if (role === 'entrypoint' && dash === 1) entrypoint(rest[0], rest.slice(2));
else if (role === 'client' && dash === 1) client(rest[0], rest.slice(2));
else fail('usage: floor-path.mjs server | entrypoint URL -- APP... | client URL -- CMD...');
