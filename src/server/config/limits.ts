// What an app's config may weigh, counted as an instance will get it: the env after
// `${config.internal.X}` expansion (global and app scopes merged) against Linux's exec limits, and
// the encoded config message against the entrypoint's gRPC receive limit. A config over either
// can never be applied (the app cannot start, or the message never arrives), so the server refuses
// it at `config set` instead of taking every instance of the app down.
import { resolveConfig } from '../../config/resolve.js';
import type { ConfigVar__Output } from '../../protocol/generated/hashicorp/waypoint/ConfigVar.js';
import { type StoredVar, toWire } from './resolve.js';

/** Linux's MAX_ARG_STRLEN (32 pages): one `NAME=value` string, its NUL included. */
export const MAX_ENV_STRING_BYTES = 128 * 1024;
/**
 * Our share of ARG_MAX (2 MiB with the usual 8 MiB stack: argv and env strings, NULs and
 * pointers together). Half of it: the other half is left for the entrypoint's own environment
 * (what the image or unit sets, PORT) and the app's argv, which this server cannot see.
 */
export const MAX_ENV_BYTES = 1024 * 1024;
/** Each env string also takes an envp pointer (64-bit). */
const POINTER_BYTES = 8;
/** The entrypoint's gRPC receive limit (grpc-js's default): one config message must fit. */
export const GRPC_MESSAGE_LIMIT = 4 * 1024 * 1024;
/**
 * Kept free in that message for what is added per instance and per moment: the deployment's labels
 * (at most ~100 KiB), the url_service entry and pending exec requests (up to 256 KiB each).
 */
export const MESSAGE_RESERVE = 1024 * 1024;
export const MAX_CONFIG_MESSAGE_BYTES = GRPC_MESSAGE_LIMIT - MESSAGE_RESERVE;
/** Of that reserve, what an instance's pending exec requests may take; the rest is for labels and the URL service. */
export const MAX_PENDING_EXEC_BYTES = MESSAGE_RESERVE - 256 * 1024;

/** An exec request as the config message lists it: each arg with its tag and length, index and pty (at most ~64 bytes). */
export function pendingExecBytes(args: readonly string[]): number {
  return args.reduce((n, a) => n + field(Buffer.byteLength(a)), 64);
}

export interface ConfigWeight {
  /** The largest `NAME=value` env string, with its NUL. */
  largest?: { name: string; bytes: number };
  /** Every env string, NUL and pointer included: what execve counts against ARG_MAX. */
  envBytes: number;
  /** The encoded EntrypointConfigResponse with these vars and the file change signal. */
  messageBytes: number;
}

/** Weighs the effective vars of an app (see resolve.ts `resolve`). */
export function weigh(vars: readonly StoredVar[], fileChangeSignal: string): ConfigWeight {
  const weight: ConfigWeight = { envBytes: 0, messageBytes: messageBytes(vars, fileChangeSignal) };
  // As the entrypoint decodes what toWire sends: the same resolution it applies (src/config/resolve.ts).
  const received = toWire([...vars]).map((w) => ({ ...w, value: 'static' }) as ConfigVar__Output);
  for (const [name, value] of resolveConfig(received).env) {
    if (value === null) continue;
    const bytes = Buffer.byteLength(name) + 1 + Buffer.byteLength(value) + 1;
    weight.envBytes += bytes + POINTER_BYTES;
    if (!weight.largest || bytes > weight.largest.bytes) weight.largest = { name, bytes };
  }
  return weight;
}

/** One line saying why the config cannot be applied, or undefined when it fits. `who`: "app web". */
export function weightProblem(weight: ConfigWeight, who: string): string | undefined {
  const { largest, envBytes, messageBytes } = weight;
  if (largest && largest.bytes > MAX_ENV_STRING_BYTES) {
    return (
      `${who}: env var ${largest.name} would be ${largest.bytes} bytes once expanded (NAME=value and its NUL), ` +
      `over Linux's ${MAX_ENV_STRING_BYTES} per env string (MAX_ARG_STRLEN): the app could not start; ` +
      'shorten it, or pass the value as a file (config set --file)'
    );
  }
  if (envBytes > MAX_ENV_BYTES) {
    return (
      `${who}: the env would be ${envBytes} bytes once expanded (strings, NULs and pointers), over the ` +
      `${MAX_ENV_BYTES} (1 MiB) this server allows (Linux's ARG_MAX of 2 MiB also holds the app's own env and argv): ` +
      'the app could not start; unset some vars, or pass large values as files (config set --file)'
    );
  }
  if (messageBytes > MAX_CONFIG_MESSAGE_BYTES) {
    return (
      `${who}: the config message would be ${messageBytes} bytes encoded, over the ${MAX_CONFIG_MESSAGE_BYTES} (3 MiB) ` +
      `allowed (an entrypoint receives at most ${GRPC_MESSAGE_LIMIT} bytes per message; the rest is kept for labels, ` +
      'the URL service and exec requests): unset some vars or files'
    );
  }
  return undefined;
}

/** No measure grew: a change to a config already over a limit that does not make it worse is let through. */
export function growsNothing(before: ConfigWeight, after: ConfigWeight): boolean {
  return (
    after.envBytes <= before.envBytes &&
    after.messageBytes <= before.messageBytes &&
    (after.largest?.bytes ?? 0) <= (before.largest?.bytes ?? 0)
  );
}

/**
 * The protobuf encoding's size, computed rather than encoded (an app may have 100 000s of vars):
 * EntrypointConfigResponse { 2: config { 2: env_vars[] { 1: name, 2: static, 8: internal,
 * 9: name_is_path }, 6: file_change_signal } }. Every tag here is one byte. protobufjs writes
 * every field that is set, false and '' included, and toWire/configFor set them all.
 */
export function messageBytes(vars: readonly StoredVar[], fileChangeSignal: string): number {
  const BOOLS = 2 + 2; // internal and name_is_path: tag and one byte each
  let config = field(Buffer.byteLength(fileChangeSignal));
  for (const v of vars) config += field(field(Buffer.byteLength(v.name)) + field(v.value.length) + BOOLS);
  return field(config);
}

/** A length-delimited field: tag, length varint, bytes. */
function field(bytes: number): number {
  return 1 + varintBytes(bytes) + bytes;
}

function varintBytes(n: number): number {
  let bytes = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    bytes++;
  }
  return bytes;
}
