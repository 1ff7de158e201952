// EntrypointLogBatch messages as protobufjs encodes them (the reference encoding, from the real
// descriptor), and as the server holds them once its own decoder has read them.
import { createRequire } from 'node:module';
import descriptor from '../../src/protocol/generated/descriptor.json';
import type { EntrypointLogBatch } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointLogBatch.js';
import { LogBatchLines } from '../../src/server/logs/batch.js';
import { decodeLogBatch } from '../../src/server/logs/wire-decode.js';

const require = createRequire(import.meta.url);
export const protobuf = require('protobufjs') as typeof import('protobufjs');
export const protoRoot = protobuf.Root.fromJSON(descriptor as import('protobufjs').INamespace);
export const BatchType = protoRoot.lookupType('hashicorp.waypoint.EntrypointLogBatch');

/** protobufjs's encoding of a batch (enum names or numbers, seconds as string or number). */
export function encodeBatch(batch: EntrypointLogBatch): Buffer {
  return Buffer.from(BatchType.encode(BatchType.fromObject(batch)).finish());
}

/** A batch as the server's decoder hands it to the hub. */
export function decodedBatch(lines: EntrypointLogBatch['lines'], instanceId = 'i'): LogBatchLines {
  const decoded = decodeLogBatch(encodeBatch({ instance_id: instanceId, lines }));
  if (!(decoded instanceof LogBatchLines)) throw new Error(decoded.reason);
  return decoded;
}
