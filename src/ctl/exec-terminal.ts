// Our own terminal during `waypoint-ctl exec`: raw mode for the session (keys go to the remote
// command as typed: Ctrl-C interrupts it, not us; its output shown untouched), restored on
// every way out, including an uncaught error or process.exit; and the window size, now and on
// every SIGWINCH.
import { isatty } from 'node:tty';
import { posix } from '../native/posix.js';
import type { WindowSize } from '../protocol/generated/waypoint_entrypoint/control/v1/WindowSize.js';

/** Our window size from whichever of stdout and stderr is a terminal; undefined when neither. */
export function windowSize(): WindowSize | undefined {
  for (const fd of [1, 2] as const) {
    if (!isatty(fd)) continue;
    const stream = fd === 1 ? process.stdout : process.stderr;
    const [cols, rows] = stream.getWindowSize();
    return { rows, cols, width: 0, height: 0 };
  }
  return undefined;
}

/** Calls `onResize` with the new size on every SIGWINCH; returns the unsubscribe. */
export function onResize(onResize: (size: WindowSize) => void): () => void {
  const handler = () => {
    const size = windowSize();
    if (size) onResize(size);
  };
  process.on('SIGWINCH', handler);
  return () => process.off('SIGWINCH', handler);
}

/** Puts stdin (a terminal) in raw mode; the returned function, idempotent, restores it. */
export function rawMode(): () => void {
  const stdin = process.stdin;
  if (!stdin.isTTY) return () => undefined;
  stdin.setRawMode(true);
  // Node's raw mode keeps ONLCR: the remote terminal's "\r\n" would reach the screen as
  // "\r\r\n", and a full-screen program's bare "\n" (cursor down) as a carriage return too.
  // Output goes out as it comes, as ssh does; setRawMode(false) brings back the saved settings.
  if (isatty(1)) {
    try {
      posix().disableOutputPostProcessing(1);
    } catch {
      // No addon (a bare bundle): an extra carriage return per line, nothing worse.
    }
  }
  let restored = false;
  const restore = () => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    try {
      stdin.setRawMode(false);
    } catch {
      // The terminal is gone (hung up): nothing to restore.
    }
  };
  // The last resort: whatever ends the process, the user's shell gets its terminal back.
  process.on('exit', restore);
  return restore;
}
