// A grpc-js server and client on 127.0.0.1 with one bidi method of raw Buffers (no protobuf):
// what the tests of our reaches into grpc-js's internals (the receive window, framed writes
// and sends) run against, on the grpc-js version we ship. closeRawPairs() in afterEach.
import * as grpc from '@grpc/grpc-js';

const raw = (b: Buffer) => b;
const PATH = '/test.Raw/Bidi';
const SERVICE = {
  Bidi: { path: PATH, requestStream: true, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} satisfies grpc.ServiceDefinition;

export type RawServerCall = grpc.ServerDuplexStream<Buffer, Buffer>;
export type RawClientCall = grpc.ClientDuplexStream<Buffer, Buffer>;

const closers = new Set<() => void>();

/** A server whose method hands each call to `handler`; `open()` makes a call to it. */
export async function rawPair(handler: (call: RawServerCall) => void): Promise<{ open(): RawClientCall }> {
  const server = new grpc.Server();
  server.addService(SERVICE, { Bidi: handler });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const calls: RawClientCall[] = [];
  closers.add(() => {
    for (const call of calls) call.cancel();
    client.close();
    server.forceShutdown();
  });
  return {
    open() {
      const call = client.makeBidiStreamRequest(PATH, raw, raw);
      call.on('error', () => undefined); // a test that cares listens too; the cancel at close is expected
      calls.push(call);
      return call;
    },
  };
}

export function closeRawPairs(): void {
  for (const close of closers) close();
  closers.clear();
}
