// What goes into the log queue: the app's stdout and stderr (taps on the supervisor's relay,
// called with each chunk or batch, and told of a gap when the relay's copy had to miss some;
// never blocking, never throwing) and our own log
// records at info and above. One timer, only while something waits, seals the open batch
// shortly after its first line and sends a partial line that no newline followed.
import { formatRecord, type LogRecord, type LogSink } from '../log.js';
import type { OutputTaps } from '../supervisor/supervisor.js';
import type { LogQueue } from './queue.js';
import { LineSplitter, MAX_LINE_BYTES } from './splitter.js';
import { Source } from './wire.js';

/** A batch leaves at most this long after its first line. */
export const BATCH_DELAY_MS = 50;
/** A partial line leaves after 150–200 ms without its newline. */
export const PARTIAL_LINE_MS = 150;

const SHIPPED_LEVELS = new Set(['info', 'warn', 'error']);

export class LogCapture {
  /** One per stream of each running child: a restart's new child never joins an old line. */
  private readonly splitters = new Set<LineSplitter>();
  /** Streams the relay holds back for a slow reader: their partial lines wait. */
  private readonly held = new Set<LineSplitter>();
  /** Streams whose relay is asked instead (native-relay.ts): held while this says so. */
  private readonly probes = new Map<LineSplitter, () => boolean>();
  private timer?: NodeJS.Timeout;
  private lastMs = 0;
  private nowMs = 0;
  constructor(private readonly queue: LogQueue) {}

  /** Taps for the output of one child (the supervisor asks at each start). */
  readonly newTaps = (): OutputTaps => ({ stdout: this.tapFor(), stderr: this.tapFor() });

  /** For Logger.addSink: our records at info and above, source ENTRYPOINT. */
  readonly recordSink: LogSink = (record: LogRecord) => {
    if (!SHIPPED_LEVELS.has(record.level)) return;
    this.queue.pushText(`${formatRecord(record)}\n`, Source.ENTRYPOINT, this.now());
    this.arm();
  };

  /** Everything captured so far into sealed batches: partial lines too (at exit). */
  flush(): void {
    for (const s of this.splitters) s.flushPartial();
    this.queue.seal();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private tapFor(): OutputTaps['stdout'] {
    const splitter = new LineSplitter(
      (buf, start, end, valid) => this.queue.push(buf, start, end, valid, Source.APP, this.nowMs),
      MAX_LINE_BYTES,
      this.queue.bulk ? (buf, start, end, maxLine) => this.queue.pushLines(buf, start, end, maxLine, Source.APP, this.nowMs) : undefined,
    );
    this.splitters.add(splitter);
    return {
      held: (isHeld) => {
        if (isHeld) this.held.add(splitter);
        else {
          this.held.delete(splitter);
          // Time held back is not time without a newline: the wait starts over.
          if (splitter.hasPartial) splitter.pendingSince = this.now();
        }
      },
      tap: (chunk) => {
        this.nowMs = this.now(); // one clock read per chunk, shared by its lines
        splitter.push(chunk, this.nowMs);
        this.arm();
      },
      // The relay's copy missed part of the stream: the lines in it, and the one it ended
      // inside of, are counted as dropped (the app's output itself lost nothing).
      gap: (_bytes, lines, midLine) => {
        splitter.gap(midLine);
        this.queue.dropMissed(lines + (midLine ? 1 : 0));
        this.arm();
      },
      heldBy: (isHeld) => this.probes.set(splitter, isHeld),
      end: () => {
        this.nowMs = this.now();
        splitter.end();
        this.splitters.delete(splitter);
        this.held.delete(splitter);
        this.probes.delete(splitter);
        this.queue.seal();
      },
    };
  }

  /** Wall-clock ms, never going backwards: the lines' order is their timestamps' order. */
  private now(): number {
    const now = Date.now();
    if (now > this.lastMs) this.lastMs = now;
    return this.lastMs;
  }

  private arm(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.tick(), BATCH_DELAY_MS);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    this.queue.seal();
    const now = this.now();
    const due: Array<[LineSplitter, number]> = [];
    let waiting = false;
    for (const s of this.splitters) {
      if (!s.hasPartial) continue;
      waiting = true;
      // Held back now: the wait starts over once it flows (as `held(false)` does).
      if (this.probes.get(s)?.()) s.pendingSince = now;
      else if (!this.held.has(s) && now - s.pendingSince >= PARTIAL_LINE_MS) due.push([s, s.pendingSince]);
    }
    // Timers run before the loop reads its pipes: after a stall (CPU starved, a long GC) the
    // rest of the line may be waiting there. Read it first (setImmediate runs after the poll).
    if (due.length > 0) setImmediate(() => this.flushDue(due));
    else if (waiting) this.arm();
  }

  private flushDue(due: Array<[LineSplitter, number]>): void {
    for (const [s, since] of due) {
      // Still the same partial line, with no byte of its rest come meanwhile.
      if (!this.splitters.has(s) || this.held.has(s) || this.probes.get(s)?.() || !s.hasPartial || s.pendingSince !== since) continue;
      this.nowMs = this.now();
      s.flushPartial();
      this.queue.seal();
    }
    for (const s of this.splitters) if (s.hasPartial) return this.arm();
  }
}
