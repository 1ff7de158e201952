// Client messages framed in place (src/protocol/framed-sends.ts): the identity handler found
// under a call of the grpc-js version we ship, marked messages sent as the view with the header
// written in front, byte for byte and in order among unmarked ones; harmless when not found.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRawPairs, rawPair } from '../../helpers/raw-grpc.js';
import { FRAME_HEADER, frameInPlace, markFramable, sendFramedInPlace, sendHandlerOf } from '../../../src/protocol/framed-sends.js';

afterEach(closeRawPairs);

/** `data` in a buffer with FRAME_HEADER free bytes before it (filled with junk). */
function withRoom(data: Buffer): Buffer {
  const buf = Buffer.alloc(FRAME_HEADER + data.length, 0xee);
  data.copy(buf, FRAME_HEADER);
  return buf.subarray(FRAME_HEADER);
}

describe('frameInPlace', () => {
  it('writes the header before a marked message and gives the view; once; nothing for others', () => {
    const message = markFramable(withRoom(Buffer.from('abc')));
    const frame = frameInPlace(message)!;
    expect([...frame]).toEqual([0, 0, 0, 0, 3, 97, 98, 99]);
    expect(frame.buffer).toBe(message.buffer);
    expect(frameInPlace(message)).toBeUndefined(); // framed already
    expect(frameInPlace(withRoom(Buffer.from('abc')))).toBeUndefined(); // not marked
    expect(frameInPlace(markFramable(Buffer.alloc(3)))).toBeUndefined(); // no room before it: not marked
  });
});

describe('sendFramedInPlace', () => {
  it('sends marked messages framed in place, byte for byte and in order with unmarked ones', async () => {
    const received: Buffer[] = [];
    let ended!: () => void;
    const allIn = new Promise<void>((resolve) => (ended = resolve));
    const pair = await rawPair((call) => {
      call.on('data', (m: Buffer) => {
        received.push(Buffer.from(m));
        if (received.length === 1) call.write(Buffer.from('ok')); // the client's signal to go on
      });
      call.on('end', () => {
        call.end();
        ended();
      });
    });
    const call = pair.open();
    call.write(Buffer.from('first')); // unmarked, as an exec call's first message is
    await new Promise((resolve) => call.once('data', resolve));
    expect(sendFramedInPlace(call)).toBe(true);
    expect(sendFramedInPlace(call)).toBe(true);
    const handler = sendHandlerOf(call)!;
    let framedHere = 0;
    const patched = handler.writeMessage;
    handler.writeMessage = (m, c) =>
      patched(m, c).then((frame) => {
        if (frame.buffer === m.buffer) framedHere++; // no new buffer: framed in place
        return frame;
      });
    const sent = [Buffer.from('first')];
    for (const size of [0, 1, 70_000, 1024 * 1024]) {
      const marked = markFramable(withRoom(randomBytes(size)));
      const plain = randomBytes(size);
      sent.push(Buffer.from(marked), plain);
      call.write(marked);
      call.write(plain);
    }
    call.end();
    await allIn;
    expect(framedHere).toBe(4); // the marked ones
    expect(received.map((m) => m.length)).toEqual(sent.map((m) => m.length));
    received.forEach((m, i) => expect(m.equals(sent[i])).toBe(true));
  });

  it('leaves a call it cannot see through alone, without throwing', () => {
    expect(sendFramedInPlace({})).toBe(false);
    expect(sendFramedInPlace({ call: { nextCall: { filterStack: { filters: [{ sendCompression: {}, currentCompressionAlgorithm: 'identity' }] } } } })).toBe(false);
    const gzip = { writeMessage: () => Promise.resolve(Buffer.alloc(0)) };
    expect(sendFramedInPlace({ call: { filterStack: { filters: [{ sendCompression: gzip, currentCompressionAlgorithm: 'gzip' }] } } })).toBe(false);
  });
});
