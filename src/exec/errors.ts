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

/** A command our PATH lookup refused: 127 is NOT_FOUND, 126 PERMISSION_DENIED. */
export function lookupFailure(command: string, lookup: Extract<CommandLookup, { ok: false }>): { code: number; message: string } {
  return {
    code: lookup.exitCode === 127 ? EXEC_ERROR_CODE.NOT_FOUND : EXEC_ERROR_CODE.PERMISSION_DENIED,
    message: `${command}: ${lookup.reason}`,
  };
}

/** A spawn that failed after the lookup passed (a race with the file system, a limit). */
export function errnoCode(errno: number | undefined): number {
  if (errno === constants.errno.ENOENT) return EXEC_ERROR_CODE.NOT_FOUND;
  if (errno === constants.errno.EACCES || errno === constants.errno.EISDIR) return EXEC_ERROR_CODE.PERMISSION_DENIED;
  return EXEC_ERROR_CODE.INTERNAL;
}
