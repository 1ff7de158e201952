// The child's stdout/stderr pass through us and reach our own stdout/stderr unchanged, byte for
// byte, each stream in order, at the reader's pace. A tap (log capture) sees every chunk after
// it was handed to our output; it never holds the relay up.
import type { Readable, Writable } from 'node:stream';

/** Sees each chunk of one stream, synchronously, in order; must not keep or modify it. */
export type Tap = (chunk: Buffer) => void;

/** Told once when a tapped stream has ended (its last partial line may go out). */
export interface TapEnd {
  tap: Tap;
  end?(): void;
  /**
   * The stream is held back (true) for a slow reader of ours, or flows again (false). While
   * held, the rest of a partial line may sit unread in the pipe: not a line that ended.
   */
  held?(isHeld: boolean): void;
  /**
   * Capture fell behind and missed `bytes` of the stream (`lines` newlines among them; `midLine`:
   * they ended inside a line, whose rest comes next). The output itself lost nothing.
   */
  gap?(bytes: number, lines: number, midLine: boolean): void;
  /**
   * From a relay whose holding back cannot be told as it happens (a thread writing to our slow
   * reader): asked when it matters whether the stream is held back now.
   */
  heldBy?(isHeld: () => boolean): void;
}

export interface Relay {
  /**
   * Resolves once both streams reached EOF, or, after the child exited, once no byte arrived for
   * `idleMs` (a daemonised grandchild may hold the pipe open forever; time spent holding a
   * stream back for a slow reader does not count), and once what we wrote has left our write
   * queues; at most `maxMs` in all.
   */
  drained(idleMs: number, maxMs: number): Promise<void>;
}

export type RelayPair = [from: Readable, to: Writable, tap?: TapEnd];

export function relay(pairs: RelayPair[]): Relay {
  let lastData = Date.now();
  // Sources we paused because their destination is full: not idle, we are holding them back.
  const held = new Set<Readable>();
  const ends = pairs.map(([from, to, tap]) => relayOne(from, to, tap, () => (lastData = Date.now()), held));
  const allEnded = Promise.all(ends).then(() => undefined);
  return {
    drained(idleMs, maxMs) {
      const deadline = Date.now() + maxMs;
      const sourcesDone = untilQuiet(allEnded, { lastData: () => lastData, holding: () => held.size > 0, idleMs, deadline });
      // What we wrote may still sit in our own write queue (a pipe to a slow reader is
      // written asynchronously): exiting before it left the process would lose it.
      return sourcesDone.then(() => Promise.all(pairs.map(([, to]) => flushed(to, deadline)))).then(() => undefined);
    },
  };
}

/**
 * Resolves once `ended` does, or once nothing is `holding` output back and no byte came for
 * `idleMs` (a grandchild may hold the pipe open forever), or at `deadline`. Shared by both relays.
 */
export function untilQuiet(
  ended: Promise<void>,
  o: { lastData: () => number; holding: () => boolean; idleMs: number; deadline: number },
): Promise<void> {
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout;
    const check = () => {
      const now = Date.now();
      if ((!o.holding() && now - o.lastData() >= o.idleMs) || now >= o.deadline) resolve();
      else timer = setTimeout(check, Math.min(o.idleMs, 50));
    };
    void ended.then(() => {
      clearTimeout(timer);
      resolve();
    });
    timer = setTimeout(check, Math.min(o.idleMs, 50));
  });
}

/**
 * One stream. `to` outlives it (our stdout across every restart): each listener put on `to`
 * comes off when `from` ends, or a restart would leave one behind each time.
 */
function relayOne(from: Readable, to: Writable, tap: TapEnd | undefined, onData: () => void, held: Set<Readable>): Promise<void> {
  return new Promise((resolve) => {
    const hold = (isHeld: boolean) => {
      if (isHeld) held.add(from);
      else held.delete(from);
      try {
        tap?.held?.(isHeld);
      } catch {
        // log capture must never break the app's output
      }
    };
    const onDrain = () => {
      hold(false);
      onData(); // the idle wait starts over once data may flow again
      from.resume();
    };
    // Our reader went away (EPIPE): close the child's pipe too, so the child meets the same
    // SIGPIPE/EPIPE it would have met writing there directly.
    const onError = () => {
      held.delete(from);
      from.destroy();
    };
    from.on('data', (chunk: Buffer) => {
      onData();
      const full = !to.write(chunk);
      if (tap) {
        try {
          tap.tap(chunk);
        } catch {
          // log capture must never break the app's output
        }
      }
      if (full && !held.has(from)) {
        hold(true);
        from.pause();
        to.once('drain', onDrain);
      }
    });
    to.on('error', onError);
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      to.off('error', onError);
      to.off('drain', onDrain);
      held.delete(from);
      tap?.end?.();
      resolve();
    };
    from.once('end', end);
    from.once('close', end);
    from.once('error', end);
  });
}

/** Resolves once `to` has nothing left to write (or cannot write any more), or at `deadline`. */
function flushed(to: Writable, deadline: number): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (to.writableLength === 0 || to.destroyed || Date.now() >= deadline) resolve();
      else setTimeout(check, 10);
    };
    check();
  });
}
