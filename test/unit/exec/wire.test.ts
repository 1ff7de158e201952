// Exec output messages encoded by hand: decoded by the very deserializer a server uses, they
// are EntrypointExecRequest.output with the channel and the bytes, cut at 64 KiB.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { encodeOutput, encodeOutputInPlace, MAX_OUTPUT_CHUNK, OUTPUT_HEADROOM, outputMessages, splitChunks } from '../../../src/exec/wire.js';
import type { EntrypointExecRequest__Output } from '../../../src/protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import { protocol } from '../../../src/protocol/load.js';

function decode(message: Buffer): EntrypointExecRequest__Output {
  const method = protocol().hashicorp.waypoint.Waypoint.service.EntrypointExecStream;
  return method.requestDeserialize(message) as EntrypointExecRequest__Output;
}

describe('exec output messages', () => {
  it('decode as output with their channel and exact bytes, whatever the length', () => {
    for (const length of [0, 1, 127, 128, 16_383, 16_384, 65_535, MAX_OUTPUT_CHUNK]) {
      const data = randomBytes(length);
      for (const channel of ['STDOUT', 'STDERR'] as const) {
        const decoded = decode(encodeOutput(channel, data));
        expect(decoded.event).toBe('output');
        expect(decoded.output?.channel).toBe(channel);
        expect(Buffer.from(decoded.output!.data).equals(data)).toBe(true);
      }
    }
  });

  it('match protobufjs’s own encoding of the same message', () => {
    const data = randomBytes(MAX_OUTPUT_CHUNK + 100).subarray(0, MAX_OUTPUT_CHUNK);
    const method = protocol().hashicorp.waypoint.Waypoint.service.EntrypointExecStream;
    const theirs = method.requestSerialize({ output: { channel: 'STDERR', data } } as never);
    expect(encodeOutput('STDERR', data).equals(theirs)).toBe(true);
  });

  it('cut large output into pieces of at most MAX_OUTPUT_CHUNK, in order, without copying', () => {
    const data = randomBytes(3 * MAX_OUTPUT_CHUNK + 5);
    const pieces = splitChunks(data);
    expect(pieces.map((p) => p.length)).toEqual([MAX_OUTPUT_CHUNK, MAX_OUTPUT_CHUNK, MAX_OUTPUT_CHUNK, 5]);
    expect(Buffer.concat(pieces).equals(data)).toBe(true);
    expect(pieces[1].buffer).toBe(data.buffer);
    expect(splitChunks(data.subarray(0, 10))).toHaveLength(1);

    const messages = outputMessages('STDOUT', data);
    expect(messages).toHaveLength(4);
    const joined = Buffer.concat(messages.map((m) => Buffer.from(decode(m).output!.data)));
    expect(joined.equals(data)).toBe(true);
  });

  it('in place: the same message, its header in the room before the data, the data not copied, nothing before the header touched', () => {
    for (const length of [0, 1, 127, 128, 16_383, 16_384, 65_535, MAX_OUTPUT_CHUNK]) {
      for (const channel of ['STDOUT', 'STDERR'] as const) {
        const slab = Buffer.alloc(64 + OUTPUT_HEADROOM + length, 0xee);
        const data = slab.subarray(64 + OUTPUT_HEADROOM, 64 + OUTPUT_HEADROOM + length);
        randomBytes(length).copy(data);
        const copy = Buffer.from(data);
        const message = encodeOutputInPlace(channel, data);
        expect(message.equals(encodeOutput(channel, copy))).toBe(true);
        expect(message.buffer).toBe(slab.buffer);
        expect(message.byteOffset + message.length).toBe(data.byteOffset + data.length);
        expect(message.byteOffset).toBeGreaterThanOrEqual(64);
        expect(slab.subarray(0, message.byteOffset - slab.byteOffset).every((b) => b === 0xee)).toBe(true);
        expect(data.equals(copy)).toBe(true);
      }
    }
  });
});
