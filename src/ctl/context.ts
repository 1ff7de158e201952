// The context file: where `waypoint-ctl server run` leaves its address and operator token, so
// the other commands on this machine find the server without flags. Private (0600): it holds
// the operator token.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CtlError } from './errors.js';

export interface ContextTls {
  /** Verify the server against this CA bundle (a self-signed server certificate). */
  ca_file?: string;
  skip_verify?: boolean;
}

export interface Context {
  server_addr: string;
  token: string;
  /** Present when the server speaks TLS. */
  tls?: ContextTls;
}

/** Points the ctl at another context file (as `waypoint-ctl dev` prints). */
export const CONTEXT_ENV = 'WAYPOINT_CTL_CONTEXT';

export function contextPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env[CONTEXT_ENV]) return path.resolve(env[CONTEXT_ENV]);
  const configHome = env.XDG_CONFIG_HOME || path.join(env.HOME || os.homedir(), '.config');
  return path.join(configHome, 'waypoint-ctl', 'context.json');
}

/** The context at `file`, or undefined when there is none. */
export function readContext(file: string): Context | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CtlError(`cannot read the context file ${file}: ${(err as Error).message}`);
  }
  let value: Partial<Context>;
  try {
    value = JSON.parse(text) as Partial<Context>;
  } catch {
    throw new CtlError(`the context file ${file} is not valid JSON: fix or delete it`);
  }
  if (typeof value?.server_addr !== 'string' || typeof value.token !== 'string') {
    throw new CtlError(`the context file ${file} lacks server_addr or token: fix or delete it`);
  }
  return value as Context;
}

/** Writes atomically (a reader never sees half a file), mode 0600 in a 0700 directory. */
export function writeContext(file: string, context: Context): void {
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(tmp, `${JSON.stringify(context, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CtlError(`cannot write the context file ${file}: ${(err as Error).message}`);
  }
}
