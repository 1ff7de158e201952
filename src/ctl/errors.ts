// The ctl's two kinds of failure, each one line on stderr: a usage error (exit 2: the command
// line is wrong) and everything else (exit 1: server down, token refused, files unreadable).

export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

export class CtlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
    this.name = 'CtlError';
  }
}

export class UsageError extends CtlError {
  constructor(message: string) {
    super(message, EXIT_USAGE);
    this.name = 'UsageError';
  }
}
