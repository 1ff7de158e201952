// ConnectResponse{data} made as its whole frame (src/server/tunnel/data-frames.ts): the message
// decodes as protobufjs's own, and its frame header, right before it, says its length; the
// pieces written meanwhile are grouped into messages in order, none over the limit.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { protocol } from '../../../../src/protocol/load.js';
import type { TunnelDefinition } from '../../../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/Tunnel.js';
import { frameOf } from '../../../../src/server/rpc/framed-writes.js';
import { dataFrame, groupPieces } from '../../../../src/server/tunnel/data-frames.js';
import { MAX_DATA_MESSAGE } from '../../../../src/server/tunnel/connection.js';

const connect = () => (protocol().waypoint_entrypoint.tunnel.v1.Tunnel.service as unknown as TunnelDefinition).Connect;

describe('dataFrame', () => {
  it('is the same message as protobufjs encodes, with its frame header before it, for every length class', () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, MAX_DATA_MESSAGE]) {
      const data = randomBytes(n);
      const message = dataFrame([data]);
      expect(message.equals(connect().responseSerialize({ data }))).toBe(true);
      const decoded = connect().responseDeserialize(message);
      expect(decoded.event).toBe('data');
      expect(Buffer.from(decoded.data!).equals(data)).toBe(true);
      const frame = frameOf(message)!;
      expect(frame[0]).toBe(0);
      expect(frame.readUInt32BE(1)).toBe(message.length);
      expect(frame.subarray(5).equals(message)).toBe(true);
    }
  });

  it('carries several pieces one after the other in one message', () => {
    const pieces = [randomBytes(100), Buffer.alloc(0), randomBytes(70_000), randomBytes(1)];
    const decoded = connect().responseDeserialize(dataFrame(pieces));
    expect(Buffer.from(decoded.data!).equals(Buffer.concat(pieces))).toBe(true);
  });
});

describe('groupPieces', () => {
  it('cuts and groups pieces into runs of at most max bytes, in order, as views', () => {
    const a = randomBytes(5);
    const b = randomBytes(12);
    const c = randomBytes(3);
    const groups = groupPieces([a, Buffer.alloc(0), b, c], 8);
    expect(groups.map((g) => g.map((p) => p.length))).toEqual([[5, 3], [8], [1, 3]]);
    expect(Buffer.concat(groups.flat()).equals(Buffer.concat([a, b, c]))).toBe(true);
    expect(groups[1][0].buffer).toBe(b.buffer); // a view of b, not a copy
    expect(groupPieces([Buffer.alloc(0)], 8)).toEqual([]);
    expect(groupPieces([randomBytes(16)], 8).map((g) => g.length)).toEqual([1, 1]);
  });
});
