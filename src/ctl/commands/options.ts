// Options shared by commands: how to reach the server, and key=value labels.
import { type Command, InvalidArgumentError } from 'commander';
import type { ConnectionFlags } from '../target.js';

export function withConnectionOptions(cmd: Command): Command {
  return cmd
    .option('--server-addr <host:port>', 'the server (default: $WAYPOINT_SERVER_ADDR, else the context file)')
    .option('--token <token>', 'the operator token (default: $WAYPOINT_TOKEN, else the context file)')
    .option('--tls', 'connect with TLS ($WAYPOINT_SERVER_TLS)')
    .option('--tls-skip-verify', 'TLS without verifying the server certificate ($WAYPOINT_SERVER_TLS_SKIP_VERIFY)')
    .option('--tls-ca-file <file>', 'verify the server certificate against this CA bundle ($WAYPOINT_SERVER_TLS_CA_FILE)');
}

export function connectionFlags(opts: Record<string, unknown>): ConnectionFlags {
  return {
    serverAddr: opts.serverAddr as string | undefined,
    token: opts.token as string | undefined,
    tls: opts.tls as boolean | undefined,
    tlsSkipVerify: opts.tlsSkipVerify as boolean | undefined,
    tlsCaFile: opts.tlsCaFile as string | undefined,
  };
}

/** Collects repeated `--label key=value` into one object. */
export function collectLabel(text: string, labels: Record<string, string> = {}): Record<string, string> {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new InvalidArgumentError(`expected key=value, got ${JSON.stringify(text)}`);
  return { ...labels, [text.slice(0, eq)]: text.slice(eq + 1) };
}
