// A line's id, which the console resumes a stream from and tells lines apart by:
// `<this run>.<arrival number>`. A line another replica holds keeps the id it has there.
import { randomBytes } from 'node:crypto';
import type { LogEntry } from './hub.js';

/** This run of the server: a cursor of another run (or replica) names nothing kept here. */
export const RUN = randomBytes(6).toString('base64url');

export function cursorOf(e: LogEntry, run = RUN): string {
  return e.id ?? `${run}.${e.seq}`;
}
