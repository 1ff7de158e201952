// Log shipping, wired for the orchestrator: a bounded queue of encoded batches, fed by the
// app's output (taps) and our own records, drained by the shipper on each session's stream.
// Lines the queue drops are marked for the server (queue.ts) and warned about in our log (drops.ts).
import type { Session } from '../connection/session.js';
import type { LogSink } from '../log.js';
import type { Logger } from '../log.js';
import { posix } from '../native/posix.js';
import type { OutputTaps } from '../supervisor/supervisor.js';
import { LogCapture } from './capture.js';
import { DropReporter } from './drops.js';
import { type LineEncoder, LogQueue } from './queue.js';
import { LogShipper } from './shipper.js';

export interface LogsOptions {
  instanceId: string;
  /** WAYPOINT_CEB_LOG_BUFFER. */
  bufferBytes: number;
  logger: Logger;
  keepaliveMs?: number;
}

export interface Logs {
  /** Taps for each child's output, made at each start. */
  newTaps: () => OutputTaps;
  recordSink: LogSink;
  /** Ship on this session until it ends. */
  attach(session: Session): void;
  /** At exit: capture what is left and send it, bounded in time. */
  flush(timeoutMs: number): Promise<void>;
  /** Lines dropped so far. */
  dropped(): number;
}

export function startLogs(options: LogsOptions): Logs {
  let shipper: LogShipper | undefined;
  const drops = new DropReporter(options.logger, () => queue.capacityBytes);
  const queue: LogQueue = new LogQueue({
    instanceId: options.instanceId,
    capacityBytes: options.bufferBytes,
    onReady: () => shipper?.notify(),
    onDrop: (lines) => drops.add(lines),
    encodeLines: lineEncoder(),
  });
  shipper = new LogShipper({ queue, logger: options.logger, keepaliveMs: options.keepaliveMs, backlogBytes: options.bufferBytes });
  const capture = new LogCapture(queue);
  return {
    newTaps: capture.newTaps,
    recordSink: capture.recordSink,
    attach: (session) => shipper.attach(session),
    async flush(timeoutMs) {
      capture.flush();
      capture.stop();
      await shipper.flush(timeoutMs);
      drops.flush();
      // What is still here now goes with us: said, never silently.
      const left = queue.pendingLines;
      if (left > 0) {
        options.logger.warn('log lines were not shipped: we exit, and the server was away or did not take them in time', { lines: left, flush_timeout_ms: timeoutMs });
      }
    },
    dropped: () => queue.totalDropped,
  };
}

/** The addon's bulk encoder, when the addon loads here (else lines are encoded one by one). */
function lineEncoder(): LineEncoder | undefined {
  try {
    const native = posix();
    return typeof native.encodeLines === 'function' ? native.encodeLines : undefined;
  } catch {
    return undefined;
  }
}

export { LogQueue } from './queue.js';
export { LineSplitter, MAX_LINE_BYTES } from './splitter.js';
