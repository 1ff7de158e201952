// ssh's escape for `waypoint-ctl exec` on a terminal: `~.` typed at the start of a line (right
// after Enter, or as the very first input) closes the session; `~~` there sends one `~`. A `~`
// at the start of a line is held until the next byte says what it is, as ssh does; any other
// byte after it sends both. Pure: bytes in, bytes to send out, and whether to close. Used only
// when our stdin is a terminal, never on piped data.

export interface EscapeResult {
  /** What to send on (may be empty). */
  data: Buffer;
  /** `~.` was typed: close the session; bytes after it are dropped. */
  close: boolean;
}

const TILDE = 0x7e;
const DOT = 0x2e;
const CR = 0x0d;
const LF = 0x0a;

export class EscapeDetector {
  private atLineStart = true;
  private holdingTilde = false;

  feed(chunk: Buffer): EscapeResult {
    const out: number[] = [];
    let changed = false;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i];
      if (this.holdingTilde) {
        this.holdingTilde = false;
        changed = true;
        if (b === DOT) return { data: Buffer.from(out), close: true };
        out.push(TILDE);
        if (b === TILDE) {
          this.atLineStart = false;
          continue;
        }
      } else if (this.atLineStart && b === TILDE) {
        this.holdingTilde = true;
        changed = true;
        continue;
      }
      out.push(b);
      this.atLineStart = b === CR || b === LF;
    }
    // Most chunks are one keystroke or a paste without escapes: hand the same bytes back.
    return { data: changed ? Buffer.from(out) : chunk, close: false };
  }

  /** Our input ended: a held `~` was just a `~`. */
  flush(): Buffer {
    if (!this.holdingTilde) return Buffer.alloc(0);
    this.holdingTilde = false;
    return Buffer.from([TILDE]);
  }
}
