// Which server a command talks to, and with what token and TLS: flags first, then environment
// variables, then the context file. The context's token and TLS settings belong to the
// context's server, so they apply only when that is the server being called: a flag naming
// another server never receives the local operator token.
import { parseBoolean, parseServerAddr, SettingsError } from '../settings.js';
import { type Context, contextPath, readContext } from './context.js';
import { CtlError, UsageError } from './errors.js';

export interface ConnectionFlags {
  serverAddr?: string;
  token?: string;
  tls?: boolean;
  tlsSkipVerify?: boolean;
  tlsCaFile?: string;
}

export interface TlsSettings {
  skipVerify: boolean;
  caFile?: string;
}

export interface Target {
  addr: string;
  token: string;
  /** The context file the token came from (undefined: a flag or the environment gave it). */
  contextFile?: string;
  /** Undefined: plaintext. */
  tls?: TlsSettings;
}

type Source = 'flag' | 'env' | 'context';

export function resolveTarget(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Target {
  const file = contextPath(env);
  const addr = pick<string>([
    ['flag', flags.serverAddr],
    ['env', given(env.WAYPOINT_SERVER_ADDR)],
    ['context', () => readContext(file)?.server_addr],
  ]);
  if (!addr) {
    throw new CtlError(
      `no server to talk to: pass --server-addr and --token, set WAYPOINT_SERVER_ADDR and WAYPOINT_TOKEN, ` +
        `or start \`waypoint-ctl server run\` on this machine (it writes ${file})`,
    );
  }
  const address = validAddr(addr.value, addr.source);
  // Needed by flags and env only as a fallback: then a damaged context file is no obstacle.
  const ctx = addr.source === 'context' ? readContext(file) : lenient(() => readContext(file));
  const contextApplies = ctx !== undefined && ctx.server_addr === address;

  const token = pick<string>([
    ['flag', flags.token],
    ['env', given(env.WAYPOINT_TOKEN)],
    ['context', contextApplies ? ctx.token : undefined],
  ]);
  if (!token) {
    throw new CtlError(
      `no token for ${address}: pass --token or set WAYPOINT_TOKEN (the operator token is printed by the server's first start)`,
    );
  }
  return {
    addr: address,
    token: token.value,
    ...(token.source === 'context' && { contextFile: file }),
    tls: tlsSettings(flags, env, contextApplies ? ctx : undefined),
  };
}

/** TLS comes from flags and env when any is given, else from the context of this server. */
function tlsSettings(flags: ConnectionFlags, env: NodeJS.ProcessEnv, context: Context | undefined): TlsSettings | undefined {
  const envTls = bool('WAYPOINT_SERVER_TLS', env);
  const envSkip = bool('WAYPOINT_SERVER_TLS_SKIP_VERIFY', env);
  const caFile = flags.tlsCaFile ?? given(env.WAYPOINT_SERVER_TLS_CA_FILE);
  const skipVerify = flags.tlsSkipVerify ?? envSkip;
  const explicit = flags.tls !== undefined || envTls !== undefined || skipVerify !== undefined || caFile !== undefined;
  if (explicit) {
    const enabled = (flags.tls ?? envTls ?? false) || skipVerify === true || caFile !== undefined;
    return enabled ? { skipVerify: skipVerify ?? false, caFile } : undefined;
  }
  if (context?.tls) return { skipVerify: context.tls.skip_verify ?? false, caFile: context.tls.ca_file };
  return undefined;
}

/** The first candidate with a value; a function candidate is only called when reached. */
function pick<T>(candidates: Array<[Source, T | undefined | (() => T | undefined)]>): { value: T; source: Source } | undefined {
  for (const [source, candidate] of candidates) {
    const value = typeof candidate === 'function' ? (candidate as () => T | undefined)() : candidate;
    if (value !== undefined) return { value, source };
  }
  return undefined;
}

function lenient<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

function given(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function bool(name: string, env: NodeJS.ProcessEnv): boolean | undefined {
  const value = given(env[name]);
  if (value === undefined) return undefined;
  try {
    return parseBoolean(name, value);
  } catch (err) {
    throw new UsageError((err as SettingsError).message);
  }
}

function validAddr(value: string, source: Source): string {
  const name = source === 'flag' ? '--server-addr' : source === 'env' ? 'WAYPOINT_SERVER_ADDR' : 'server_addr of the context file';
  try {
    return parseServerAddr(name, value);
  } catch (err) {
    if (source === 'context') throw new CtlError(`${(err as SettingsError).message}: fix or delete the context file`);
    throw new UsageError((err as SettingsError).message);
  }
}
