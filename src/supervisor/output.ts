// The child's stdout/stderr pass through us (so later modules can tap them for logs) and reach
// our own stdout/stderr unchanged, byte for byte, each stream in order, at the reader's pace.
import type { Readable, Writable } from 'node:stream';

export interface Relay {
  /**
   * Resolves once both streams reached EOF, or, after the child exited, once no byte arrived for
   * `idleMs` (a daemonised grandchild may hold the pipe open forever), at most `maxMs`.
   */
  drained(idleMs: number, maxMs: number): Promise<void>;
}

export function relay(pairs: Array<[Readable, Writable]>): Relay {
  let lastData = Date.now();
  const ends = pairs.map(([from, to]) => relayOne(from, to, () => (lastData = Date.now())));
  const allEnded = Promise.all(ends).then(() => undefined);
  return {
    drained(idleMs, maxMs) {
      const started = Date.now();
      return new Promise((resolve) => {
        let timer: NodeJS.Timeout;
        const check = () => {
          const now = Date.now();
          if (now - lastData >= idleMs || now - started >= maxMs) resolve();
          else timer = setTimeout(check, Math.min(idleMs, 50));
        };
        allEnded.then(() => {
          clearTimeout(timer);
          resolve();
        });
        timer = setTimeout(check, Math.min(idleMs, 50));
      });
    },
  };
}

function relayOne(from: Readable, to: Writable, onData: () => void): Promise<void> {
  return new Promise((resolve) => {
    from.on('data', (chunk: Buffer) => {
      onData();
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      }
    });
    // Our reader went away (EPIPE): close the child's pipe too, so the child meets the same
    // SIGPIPE/EPIPE it would have met writing there directly.
    to.on('error', () => from.destroy());
    from.once('end', resolve);
    from.once('close', resolve);
    from.once('error', () => resolve());
  });
}
