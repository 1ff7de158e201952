// ConnectResponse{data}, the bytes a client sends to the app, made as the whole gRPC frame at
// once: the frame header, the field's tag and length, and one copy of the bytes in one new
// buffer, sent as it is (rpc/framed-writes.ts) instead of protobufjs's encoding (a buffer and a
// copy) and grpc-js's framing (another of each). The pieces written while the previous message
// was on its way go out together (groupPieces): an upload comes in 64 KiB reads, and every
// message costs each hop a fixed amount of work (issue 17).
import { FRAME_HEADER } from '../../protocol/framed-sends.js';
import { varintLength, writeVarint } from '../../protocol/wire-bytes.js';
import { markReceivedFrame } from '../rpc/framed-writes.js';

/** ConnectResponse's field 1 (data), length-delimited. */
const TAG_DATA = (1 << 3) | 2;

/** `pieces` in order, cut and grouped into runs of at most `max` bytes (views, no copy); empty pieces drop out. */
export function groupPieces(pieces: readonly Buffer[], max: number): Buffer[][] {
  const groups: Buffer[][] = [];
  let group: Buffer[] = [];
  let size = 0;
  for (let piece of pieces) {
    while (piece.length > 0) {
      const take = piece.subarray(0, max - size);
      group.push(take);
      size += take.length;
      piece = piece.subarray(take.length);
      if (size === max) {
        groups.push(group);
        group = [];
        size = 0;
      }
    }
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/** The encoded ConnectResponse{data} of `pieces` one after the other, marked: its frame header is in the 5 bytes before it. */
export function dataFrame(pieces: readonly Buffer[]): Buffer {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  const length = 1 + varintLength(total) + total;
  const frame = Buffer.allocUnsafe(FRAME_HEADER + length);
  frame[0] = 0; // not compressed
  frame.writeUInt32BE(length, 1);
  frame[FRAME_HEADER] = TAG_DATA;
  let at = writeVarint(frame, FRAME_HEADER + 1, total);
  for (const piece of pieces) at += piece.copy(frame, at);
  return markReceivedFrame(frame.subarray(FRAME_HEADER));
}
