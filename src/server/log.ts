// What the server logs through: the methods of our Logger, so the CLI can hand it any logger.
import type { LogFields } from '../log.js';

export interface ServerLog {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

export const silentLog: ServerLog = { debug() {}, info() {}, warn() {}, error() {} };
