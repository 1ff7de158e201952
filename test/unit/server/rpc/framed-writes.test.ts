// Relayed messages sent as the frames they came in (src/server/rpc/framed-writes.ts): with the
// grpc-js version we ship, a received message has its frame header before it, and a marked one
// goes back out byte for byte through the patched call; anything else is framed by grpc-js.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRawPairs, rawPair } from '../../../helpers/raw-grpc.js';
import { frameOf, markReceivedFrame, sendReceivedFrames } from '../../../../src/server/rpc/framed-writes.js';

afterEach(closeRawPairs);

describe('frameOf', () => {
  it('is the view of header and message for a marked message whose header checks out, else nothing', () => {
    const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, 3]), Buffer.from('abc')]);
    const message = frame.subarray(5);
    expect(frameOf(message)).toBeUndefined(); // not marked
    markReceivedFrame(message);
    const view = frameOf(message)!;
    expect(view.equals(frame)).toBe(true);
    expect(view.buffer).toBe(frame.buffer); // no copy
    const wrongLength = Buffer.concat([Buffer.from([0, 0, 0, 0, 4]), Buffer.from('abc')]).subarray(5);
    expect(frameOf(markReceivedFrame(wrongLength))).toBeUndefined();
    const compressed = Buffer.concat([Buffer.from([1, 0, 0, 0, 3]), Buffer.from('abc')]).subarray(5);
    expect(frameOf(markReceivedFrame(compressed))).toBeUndefined();
    expect(frameOf(markReceivedFrame(Buffer.from('abc')))).toBeUndefined(); // nothing before it
  });
});

describe('sendReceivedFrames', () => {
  it('relays received messages back as their frames, byte for byte, and frames anything else as grpc-js does', async () => {
    const sizes = [0, 1, 100_000, 1024 * 1024];
    const framesSeen: boolean[] = [];
    const pair = await rawPair((call) => {
      expect(sendReceivedFrames(call)).toBe(true);
      expect(sendReceivedFrames(call)).toBe(true); // once per call: patched already
      call.on('data', (m: Buffer) => {
        markReceivedFrame(m);
        framesSeen.push(frameOf(m) !== undefined);
        call.write(m);
        call.write(Buffer.from(m)); // a copy, unmarked: grpc-js's own framing
      });
      call.on('end', () => call.end());
    });
    const call = pair.open();
    const got: Buffer[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (m: Buffer) => got.push(Buffer.from(m)));
      call.on('error', reject);
      call.on('end', resolve);
    });
    const sent = sizes.map((n) => randomBytes(n));
    for (const m of sent) call.write(m);
    call.end();
    await done;
    expect(framesSeen).toEqual(sizes.map(() => true));
    expect(got.map((m) => m.length)).toEqual(sizes.flatMap((n) => [n, n]));
    sent.forEach((m, i) => {
      expect(got[2 * i].equals(m)).toBe(true);
      expect(got[2 * i + 1].equals(m)).toBe(true);
    });
  });

  it('leaves a call it cannot see through alone, without throwing', () => {
    expect(sendReceivedFrames({})).toBe(false);
    expect(sendReceivedFrames({ call: { nextCall: {} } })).toBe(false);
  });
});
