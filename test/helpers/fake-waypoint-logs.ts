// The logs part of the fake Waypoint (fake-waypoint.ts): an EntrypointLogStream accepted and
// recorded line by line (or refused, as the script says).
import type * as grpcTypes from '@grpc/grpc-js';
import type { EntrypointLogBatch__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointLogBatch.js';
import { isKeepalive } from '../../src/protocol/keepalive.js';
import type { FakeScript } from './fake-waypoint.js';

/** One log line as the fake received it. */
export interface ReceivedLine {
  instanceId: string;
  /** ms since the epoch, with the nanos' sub-ms part as a fraction. */
  time: number;
  line: string;
  source: 'APP' | 'ENTRYPOINT';
  /** Date.now() when its batch arrived. */
  at: number;
}

/** What the fake keeps of every log stream. */
export interface LogRecord {
  readonly lines: ReceivedLine[];
  batches: number;
  logKeepalives: number;
}

/** One log stream: refused as scripted, or recorded into `into` while it is in `open`. */
export function logStream(
  call: grpcTypes.ServerReadableStream<unknown, unknown>,
  cb: grpcTypes.sendUnaryData<unknown>,
  behaviour: FakeScript['logStream'],
  into: LogRecord,
  open: Set<grpcTypes.ServerReadableStream<unknown, unknown>>,
): void {
  if (behaviour !== 'accept') return cb({ code: behaviour.refuse, details: behaviour.details ?? 'refused by the fake' });
  open.add(call);
  call.on('data', (message: unknown) => {
    if (isKeepalive(message)) {
      into.logKeepalives++;
      return;
    }
    const batch = message as EntrypointLogBatch__Output;
    into.batches++;
    const at = Date.now();
    for (const entry of batch.lines) {
      const ts = entry.timestamp;
      into.lines.push({
        instanceId: batch.instance_id,
        time: ts ? Number(ts.seconds) * 1000 + ts.nanos / 1e6 : 0,
        line: entry.line,
        source: entry.source as 'APP' | 'ENTRYPOINT',
        at,
      });
    }
  });
  call.on('error', () => open.delete(call));
  call.on('cancelled', () => open.delete(call));
  call.on('end', () => {
    open.delete(call);
    cb(null, {});
  });
}
