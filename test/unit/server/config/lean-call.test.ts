// What an admitted config stream lets go of in grpc-js (src/server/config/lean-call.ts), on the
// grpc-js version we ship: the request's decoder goes and the trailing metadata is shared, and
// the call still streams its messages and ends with its status (with trailers a caller sets).
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { shedSpentCallState } from '../../../../src/server/config/lean-call.js';

const raw = (b: Buffer) => b;
const PATH = '/test.Lean/Stream';
const SERVICE = {
  Stream: { path: PATH, requestStream: false, responseStream: true, requestSerialize: raw, requestDeserialize: raw, responseSerialize: raw, responseDeserialize: raw },
} satisfies grpc.ServiceDefinition;

const closers: Array<() => void> = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

async function pair(handler: (call: grpc.ServerWritableStream<Buffer, Buffer>) => void): Promise<grpc.Client> {
  const server = new grpc.Server();
  server.addService(SERVICE, { Stream: handler });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  closers.push(() => (client.close(), server.forceShutdown()));
  return client;
}

/** One call: the messages it got, its status and trailers. */
function call(client: grpc.Client): Promise<{ messages: string[]; status: grpc.StatusObject }> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    const stream = client.makeServerStreamRequest(PATH, raw, raw, Buffer.from('request'));
    stream.on('data', (m: Buffer) => messages.push(m.toString()));
    stream.on('error', () => undefined);
    stream.on('status', (status: grpc.StatusObject) => resolve({ messages, status }));
  });
}

const internals = (c: object) => c as unknown as { call: { decoder?: unknown }; trailingMetadata: grpc.Metadata };

describe('shedSpentCallState', () => {
  it('drops the decoder and shares the trailing metadata; the call streams and ends as before', async () => {
    const seen: Array<{ shed: boolean; decoder: unknown; trailing: grpc.Metadata }> = [];
    const client = await pair((c) => {
      const shed = shedSpentCallState(c);
      seen.push({ shed, decoder: internals(c).call.decoder, trailing: internals(c).trailingMetadata });
      c.write(Buffer.from('one'));
      c.write(Buffer.from('two'));
      if (seen.length === 2) c.end(new grpc.Metadata()); // a caller's own trailers replace the shared ones
      else c.end();
    });
    const first = await call(client);
    const second = await call(client);
    expect(first.messages).toEqual(['one', 'two']);
    expect(second.messages).toEqual(['one', 'two']);
    expect([first.status.code, second.status.code]).toEqual([grpc.status.OK, grpc.status.OK]);
    expect(seen.map((s) => [s.shed, s.decoder])).toEqual([
      [true, undefined],
      [true, undefined],
    ]);
    expect(seen[0]!.trailing).toBe(seen[1]!.trailing);
    expect(Object.keys(seen[0]!.trailing.getMap())).toEqual([]);
  });

  it('ends a shed call with an error status as before', async () => {
    const client = await pair((c) => {
      shedSpentCallState(c);
      c.emit('error', { code: grpc.status.NOT_FOUND, details: 'no such deployment' });
    });
    const { status } = await call(client);
    expect([status.code, status.details]).toEqual([grpc.status.NOT_FOUND, 'no such deployment']);
  });

  it('tells a shed call of its cancel as before (cancelled event, stream destroyed), through a listener without the request', async () => {
    const cancelled = new Promise<{ listener: object; metadata: grpc.Metadata; request: unknown; destroyed: boolean }>((resolve) => {
      void pair((c) => {
        shedSpentCallState(c);
        c.write(Buffer.from('first'));
        c.on('cancelled', () => setImmediate(() => resolve({ listener: (c as unknown as { call: { listener: object } }).call.listener, metadata: c.metadata, request: c.request, destroyed: c.destroyed })));
      }).then((client) => {
        const stream = client.makeServerStreamRequest(PATH, raw, raw, Buffer.from('request'));
        stream.on('error', () => undefined);
        stream.once('data', () => stream.cancel());
      });
    });
    const seen = await cancelled;
    expect(seen.destroyed).toBe(true);
    expect(seen.listener.constructor.name).toBe('SpentListener');
    expect(Object.keys(seen.metadata.getMap())).toEqual([]);
    expect(seen.request).toBeUndefined();
  });

  it('leaves a call that is not as expected alone', () => {
    const odd = { metadata: new grpc.Metadata(), call: { somethingElse: true } };
    expect(shedSpentCallState(odd as unknown as grpc.ServerWritableStream<Buffer, Buffer>)).toBe(false);
    expect(odd.call).toEqual({ somethingElse: true });
  });
});
