// What an operator's exec start may ask, checked before anything is placed or recorded: an app
// or an instance (not both), a command line the OS can run, and a terminal a pty can be (L10).
// Pure, so that the rules are read and tested without a server.
import type { ExecStart__Output } from '../../protocol/generated/waypoint_entrypoint/control/v1/ExecStart.js';
import { checkInstanceId } from '../instances/registry.js';
import { invalidArgument } from '../rpc/status.js';
import { APP_NAME } from '../../rules/names.js';
import type { ExecPty } from './broker.js';

const MAX_ARGS_BYTES = 256 * 1024;
/** A terminal's sizes are 16-bit (struct winsize): more would wrap (70000 cols became 4464). */
const MAX_WINDOW = 65_535;
const MAX_TERM_LENGTH = 256;

/** Throws INVALID_ARGUMENT, saying what to change, for a start no session can run. */
export function checkStart(start: ExecStart__Output): void {
  if (start.app && start.instance_id) throw invalidArgument('give an app or an instance, not both');
  if (!start.app && !start.instance_id) throw invalidArgument('give an app or an instance to run the command in');
  if (start.app && !APP_NAME.test(start.app)) throw invalidArgument(`invalid app name ${JSON.stringify(start.app)}`);
  if (start.args.length === 0 || start.args[0] === '') throw invalidArgument('exec needs a command: give its args');
  if (start.instance_id) checkInstanceId(start.instance_id, 'Exec');
  if (start.args.reduce((n, a) => n + Buffer.byteLength(a), 0) > MAX_ARGS_BYTES) {
    throw invalidArgument(`the command line is too long: at most ${MAX_ARGS_BYTES / 1024} KiB`);
  }
  // L10: the OS ends a C string at NUL: the command would run with a different arg than asked.
  const nul = start.args.findIndex((a) => a.includes('\0'));
  if (nul >= 0) throw invalidArgument(`arg ${nul} holds a NUL character, which no command can receive: remove it`);
  if (start.tty) checkTerminal(start);
}

/** A terminal name terminfo could hold, and a size a terminal can have (L10). */
function checkTerminal(start: ExecStart__Output): void {
  if (start.term.length > MAX_TERM_LENGTH || !/^[\x21-\x7e]*$/.test(start.term)) {
    throw invalidArgument(`invalid TERM: at most ${MAX_TERM_LENGTH} printable ASCII characters, no NUL, space or control character`);
  }
  const w = start.window_size;
  if (!w) return;
  // Refused rather than clamped: only a broken or hostile client sends these, and a clamped
  // size would be a silent lie to the command. 0 x 0 is "unknown" (the pty's default).
  const unknown = w.rows === 0 && w.cols === 0;
  if (!unknown && !(inRange(w.rows, 1) && inRange(w.cols, 1))) {
    throw invalidArgument(`invalid window size ${w.rows}x${w.cols}: rows and cols must be 1 to ${MAX_WINDOW}`);
  }
  if (!inRange(w.width, 0) || !inRange(w.height, 0)) {
    throw invalidArgument(`invalid window size in pixels ${w.width}x${w.height}: 0 (unknown) to ${MAX_WINDOW}`);
  }
}

function inRange(n: number, min: number): boolean {
  return Number.isInteger(n) && n >= min && n <= MAX_WINDOW;
}

/** The pty the entrypoint opens for a checked start: none, or its TERM and window size. */
export function ptyFor(start: ExecStart__Output): ExecPty {
  if (!start.tty) return { enable: false, term: '' };
  const w = start.window_size;
  return {
    enable: true,
    term: start.term || 'xterm-256color',
    ...(w && { window_size: { rows: w.rows, cols: w.cols, width: w.width, height: w.height } }),
  };
}
