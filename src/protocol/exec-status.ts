// How an exec session that could not run is reported, shared by the three programs: the
// entrypoint puts a google.rpc code in EntrypointExecRequest.Error, the server records it and
// passes it on, and `waypoint-ctl exec` exits as a shell would for the same failure.

/** google.rpc.Code values used by exec (the numbers are gRPC's). */
export const EXEC_ERROR_CODE = {
  /** The request cannot be run as given (a NUL byte in the command line or TERM, no command). */
  INVALID_ARGUMENT: 3,
  /** The command is not on PATH, or the file does not exist. */
  NOT_FOUND: 5,
  /** The file exists but is not executable (or is a directory). */
  PERMISSION_DENIED: 7,
  /** The instance refuses exec (WAYPOINT_CEB_DISABLE_EXEC). */
  FAILED_PRECONDITION: 9,
  /** The session broke: the instance's connection or the operator went away. */
  UNAVAILABLE: 14,
  /** Anything else that kept the command from starting. */
  INTERNAL: 13,
} as const;

/** The exit status `waypoint-ctl exec` reports for an exec error: 127 / 126 as a shell, else 1. */
export function execErrorExitCode(code: number): number {
  if (code === EXEC_ERROR_CODE.NOT_FOUND) return 127;
  if (code === EXEC_ERROR_CODE.PERMISSION_DENIED) return 126;
  return 1;
}
