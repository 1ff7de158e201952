// The app's output relayed by the posix addon's threads (native/relay.c): each of the app's
// pipes is moved to our stdout or stderr off the JavaScript thread (a burst by tee and splice,
// without copies, where our output takes splice; else read and write), so the app runs at
// the speed of whoever reads our output, whatever log capture does; capture gets a copy in
// batches, and a count of what it had to miss when it fell behind (never the app's problem).
import type { PosixAddon } from '../native/posix.js';
import { type Relay, type TapEnd, untilQuiet } from './output.js';

/** What log capture may have waiting, per stream, before the copy is dropped. */
export const CAPTURE_LIMIT_BYTES = 8 * 1024 * 1024;

export type NativeRelayPair = [fromFd: number, toFd: number, tap?: TapEnd];

export interface NativeRelay extends Relay {
  /** Per pair: the bytes that went to our output by splice (no copy) and by write so far, and the reads of the app's pipe. */
  stats(): Array<{ spliced: number; written: number; reads: number }>;
}

/** Starts one thread per pair; each `fromFd` is then the thread's, closed by it at the end. */
export function nativeRelay(native: PosixAddon, pairs: NativeRelayPair[], limitBytes = CAPTURE_LIMIT_BYTES): NativeRelay {
  let lastData = Date.now();
  const handles: unknown[] = [];
  const ends = pairs.map(
    ([from, to, tap]) =>
      new Promise<void>((resolve) => {
        let ended = false;
        const handle = native.relay(from, to, limitBytes, (buffer, length, gapBytes, gapLines, gapMidLine, isEnd) => {
          lastData = Date.now();
          guard(() => {
            // The relay's own buffer, filled again after this call: taps never keep a chunk.
            if (buffer && length > 0) tap?.tap(buffer.subarray(0, length));
            if (gapBytes > 0) tap?.gap?.(gapBytes, gapLines, gapMidLine);
          });
          if (isEnd) {
            ended = true;
            guard(() => tap?.end?.());
            resolve();
          }
        });
        handles.push(handle);
        // A partial line whose rest waits behind our slow reader is not a line that ended.
        guard(() => tap?.heldBy?.(() => !ended && native.relayBusy(handle)));
      }),
  );
  const allEnded = Promise.all(ends).then(() => undefined);
  return {
    drained: (idleMs, maxMs) =>
      untilQuiet(allEnded, {
        lastData: () => lastData,
        // A thread still writing waits for our slow reader: the output is not all out yet.
        holding: () => handles.some((h) => native.relayBusy(h)),
        idleMs,
        deadline: Date.now() + maxMs,
      }),
    stats: () => handles.map((h) => native.relayStats(h)),
  };
}

/** Log capture must never break the app's output. */
function guard(fn: () => void): void {
  try {
    fn();
  } catch {
    // the copy is capture's; the output went out already
  }
}
