// Our own terminal, when the app runs on a pseudo-terminal behind us: raw input passed to the
// child's terminal, output shown as is, our settings restored however we exit.
import type { Logger } from '../log.js';
import { posix } from '../native/posix.js';
import type { RunningChild, TerminalSize } from './child.js';

export function terminalSize(): TerminalSize {
  return { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 };
}

export function attachTerminal(child: RunningChild, logger: Logger): void {
  const stdin = process.stdin;
  // Raw: keys (Ctrl-C too) go to the child's terminal, whose line discipline turns them into
  // signals for the job running there, exactly as on a terminal of its own.
  stdin.setRawMode(true);
  try {
    // The child's terminal already turned "\n" into "\r\n"; ours must not do it twice.
    if (posix().disableOutputPostProcessing(1)) logger.lineEnd = '\r\n';
  } catch (err) {
    logger.debug('terminal output post-processing left on', { error: (err as Error).message });
  }
  const forward = (data: Buffer) => child.writeInput?.(data);
  stdin.on('data', forward);
  stdin.resume(); // after a restart: the previous child's end paused it
  // A resize of ours is a resize of the child's terminal; the kernel then sends SIGWINCH to the
  // job in its foreground, as it would without us. ('resize' comes after Node re-reads the size.)
  const resize = () => child.resize?.(terminalSize());
  process.stdout.on('resize', resize);
  // Keys typed after the app ended have no terminal left to go to.
  void child.exited.then(() => {
    stdin.off('data', forward);
    stdin.pause();
    process.stdout.off('resize', resize);
  });
  process.once('exit', () => restoreTerminal(logger));
}

/** Back to the terminal settings we found (libuv saved them when raw mode was first set). */
export function restoreTerminal(logger: Logger): void {
  if (process.stdin.isTTY) process.stdin.setRawMode(false);
  logger.lineEnd = '\n';
}
