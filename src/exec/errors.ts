// How a session that cannot run is reported: an `error` message with a google.rpc.Status whose
// code is one of EXEC_ERROR_CODE (src/protocol/exec-status.ts), which `waypoint-ctl exec` turns
// into 127 / 126 / 1 as a shell would.
import { constants } from 'node:os';
import { EXEC_ERROR_CODE } from '../protocol/exec-status.js';
import type { EntrypointExecRequest } from '../protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import type { CommandLookup } from '../supervisor/command.js';

export const DISABLED_MESSAGE = 'exec is disabled on this instance (WAYPOINT_CEB_DISABLE_EXEC)';
export const SHUTDOWN_MESSAGE = 'the instance is shutting down';

/** The `error` message. */
export function failure(code: number, message: string): Pick<EntrypointExecRequest, 'error'> {
  return { error: { error: { code, message } } };
}

/** A command our PATH lookup refused: 127 is NOT_FOUND, 126 PERMISSION_DENIED, a NUL INVALID_ARGUMENT. */
export function lookupFailure(command: string, lookup: Extract<CommandLookup, { ok: false }>): { code: number; message: string } {
  const code = lookup.invalid
    ? EXEC_ERROR_CODE.INVALID_ARGUMENT
    : lookup.exitCode === 127
      ? EXEC_ERROR_CODE.NOT_FOUND
      : EXEC_ERROR_CODE.PERMISSION_DENIED;
  return { code, message: `${command}: ${lookup.reason}` };
}

/**
 * What no process could be started with, whatever is on disk: no command at all, or a NUL byte
 * (a command line and an environment are C strings: it would cut the text short silently).
 */
export function requestProblem(args: readonly string[], term: string | undefined): string | undefined {
  if (args.length === 0) return 'the request has no command: give the command and its arguments';
  const at = args.findIndex((a) => a.includes('\0'));
  if (at === 0) return 'the command name contains a NUL byte, which a command line cannot hold';
  if (at > 0) return `argument ${at} contains a NUL byte, which a command line cannot hold`;
  if (term?.includes('\0')) return 'TERM contains a NUL byte, which an environment cannot hold';
  return undefined;
}

/** A spawn that failed after the lookup passed (a race with the file system, a limit). */
export function errnoCode(errno: number | undefined): number {
  if (errno === constants.errno.ENOENT) return EXEC_ERROR_CODE.NOT_FOUND;
  if (errno === constants.errno.EACCES || errno === constants.errno.EISDIR) return EXEC_ERROR_CODE.PERMISSION_DENIED;
  return EXEC_ERROR_CODE.INTERNAL;
}
