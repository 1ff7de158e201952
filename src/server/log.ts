// What the server logs through: leveled calls with a message and fields, so the CLI can hand it
// any logger (the ctl's is pino: src/ctl/log.ts). Audit records carry an `event` field; their
// names are listed in the README ("The server's log").
export type ServerLogFields = Record<string, string | number | boolean | readonly string[] | undefined>;

type LogCall = (message: string, fields?: ServerLogFields) => void;

export interface ServerLog {
  debug: LogCall;
  info: LogCall;
  warn: LogCall;
  error: LogCall;
}

export const silentLog: ServerLog = { debug() {}, info() {}, warn() {}, error() {} };
