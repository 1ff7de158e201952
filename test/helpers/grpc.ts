// gRPC clients of the reference server for tests, built from src/protocol/load.ts: the metadata
// conventions of section 4, promise wrappers, a config stream that records what it gets, and a
// log stream that ships batches (and raw bytes, such as an inline keepalive) as an entrypoint does.
import { readFileSync } from 'node:fs';
import type { WaypointClient } from '../../src/protocol/generated/hashicorp/waypoint/Waypoint.js';
import type { ControlClient } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/Control.js';
import type { EntrypointConfigRequest } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigRequest.js';
import type { EntrypointConfigResponse__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { GetVersionInfoResponse__Output } from '../../src/protocol/generated/hashicorp/waypoint/GetVersionInfoResponse.js';
import type { NewTokenResponse__Output } from '../../src/protocol/generated/hashicorp/waypoint/NewTokenResponse.js';
import type { CreateDeploymentResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/CreateDeploymentResponse.js';
import type { ListDeploymentsResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/ListDeploymentsResponse.js';
import type { ListInstancesResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/ListInstancesResponse.js';
import type { EntrypointLogBatch } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointLogBatch.js';
import type { _hashicorp_waypoint_LogBatch_Entry as LogEntry } from '../../src/protocol/generated/hashicorp/waypoint/LogBatch.js';
import type { GetConfigResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/GetConfigResponse.js';
import type { GetLogsRequest } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/GetLogsRequest.js';
import type { GetLogsResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { SetConfigRequest } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/SetConfigRequest.js';
import type { SetConfigResponse__Output } from '../../src/protocol/generated/waypoint_entrypoint/control/v1/SetConfigResponse.js';
import type { InstanceStatusClient } from '../../src/protocol/generated/waypoint_entrypoint/status/v1/InstanceStatus.js';
import type { ReportStatusRequest } from '../../src/protocol/generated/waypoint_entrypoint/status/v1/ReportStatusRequest.js';
import { toTimestamp } from '../../src/protocol/timestamp.js';
import { isKeepalive, KEEPALIVE } from '../../src/protocol/keepalive.js';
import { grpc, protocol } from '../../src/protocol/load.js';
import { METADATA } from '../../src/protocol/metadata.js';
import { waitFor } from './run.js';

export { grpc };

export interface ClientTls {
  /** CA bundle to verify the server with; without it, the system roots. */
  caFile?: string;
  skipVerify?: boolean;
}

export function credentials(tls?: ClientTls): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  return grpc.credentials.createSsl(
    tls.caFile ? readFileSync(tls.caFile) : null,
    null,
    null,
    tls.skipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
}

export function waypointClient(addr: string, tls?: ClientTls): WaypointClient {
  return new (protocol().hashicorp.waypoint.Waypoint)(addr, credentials(tls)) as WaypointClient;
}

export function controlClient(addr: string, tls?: ClientTls): ControlClient {
  return new (protocol().waypoint_entrypoint.control.v1.Control)(addr, credentials(tls)) as ControlClient;
}

export function statusClient(addr: string, tls?: ClientTls): InstanceStatusClient {
  return new (protocol().waypoint_entrypoint.status.v1.InstanceStatus)(addr, credentials(tls)) as InstanceStatusClient;
}

export interface MetadataOptions {
  token?: string;
  /** "min,current" */
  entrypointProtocol?: string;
  apiProtocol?: string;
  inlineKeepalives?: boolean;
}

/** Call metadata as an entrypoint sends it. */
export function md(opts: MetadataOptions = {}): grpc.Metadata {
  const m = new grpc.Metadata();
  if (opts.token !== undefined) {
    m.set(METADATA.authorization, opts.token);
    m.set(METADATA.waypointToken, opts.token);
  }
  if (opts.entrypointProtocol) m.set(METADATA.entrypointProtocol, opts.entrypointProtocol);
  if (opts.apiProtocol) m.set(METADATA.apiProtocol, opts.apiProtocol);
  if (opts.inlineKeepalives) m.set(METADATA.inlineKeepalives, 'true');
  return m;
}

type Callback<Res> = (err: grpc.ServiceError | null, res?: Res) => void;

/** One unary call with a 10 s deadline: `invoke` makes it with the options and callback given. */
export function unary<Res>(invoke: (opts: grpc.CallOptions, cb: Callback<Res>) => unknown): Promise<Res> {
  return new Promise((resolve, reject) => {
    invoke({ deadline: Date.now() + 10_000 }, (err, res) => (err ? reject(err) : resolve(res!)));
  });
}

// The RPCs tests call, typed.
export const getVersionInfo = (c: WaypointClient, m = md()) =>
  unary<GetVersionInfoResponse__Output>((o, cb) => c.GetVersionInfo({}, m, o, cb));
export const convertInviteToken = (c: WaypointClient, token: string, m = md()) =>
  unary<NewTokenResponse__Output>((o, cb) => c.ConvertInviteToken({ token }, m, o, cb));
export const createDeployment = (c: ControlClient, app: string, labels: Record<string, string>, m: grpc.Metadata) =>
  unary<CreateDeploymentResponse__Output>((o, cb) => c.CreateDeployment({ app, labels }, m, o, cb));
export const listDeployments = (c: ControlClient, m: grpc.Metadata, app = '') =>
  unary<ListDeploymentsResponse__Output>((o, cb) => c.ListDeployments({ app }, m, o, cb));
export const listInstances = (c: ControlClient, m: grpc.Metadata, app = '') =>
  unary<ListInstancesResponse__Output>((o, cb) => c.ListInstances({ app }, m, o, cb));
export const setConfig = (c: ControlClient, req: SetConfigRequest, m: grpc.Metadata) =>
  unary<SetConfigResponse__Output>((o, cb) => c.SetConfig(req, m, o, cb));
export const getConfig = (c: ControlClient, app: string, m: grpc.Metadata) =>
  unary<GetConfigResponse__Output>((o, cb) => c.GetConfig({ app }, m, o, cb));
export const setFileChangeSignal = (c: ControlClient, app: string, signal: string, m: grpc.Metadata) =>
  unary<SetConfigResponse__Output>((o, cb) => c.SetFileChangeSignal({ app, signal }, m, o, cb));

export const reportStatus = (c: InstanceStatusClient, req: ReportStatusRequest, m: grpc.Metadata) =>
  unary<object>((o, cb) => c.Report(req, m, o, cb));

/** GetLogs without follow, to its end: every line, in the order sent. */
export function getLogs(c: ControlClient, req: GetLogsRequest, m: grpc.Metadata): Promise<GetLogsResponse__Output[]> {
  return new Promise((resolve, reject) => {
    const messages: GetLogsResponse__Output[] = [];
    const call = c.GetLogs({ ...req, follow: false }, m, { deadline: Date.now() + 10_000 });
    call.on('data', (msg: GetLogsResponse__Output) => messages.push(msg));
    call.on('error', reject);
    call.on('end', () => resolve(messages));
  });
}

/** A log line as an entrypoint ships it: with its newline, stamped now (or at `ms`). */
export function logEntry(line: string, opts: { source?: 'APP' | 'ENTRYPOINT'; ms?: number } = {}): LogEntry {
  return { line, source: opts.source ?? 'APP', timestamp: toTimestamp(opts.ms ?? Date.now()) };
}

export interface LogStream {
  send(batch: EntrypointLogBatch): void;
  /** Raw bytes as one message, e.g. INLINE_KEEPALIVE_BYTES. */
  sendRaw(bytes: Buffer): void;
  /** Half-closes and waits for the server's answer: null for OK. */
  end(): Promise<grpc.ServiceError | null>;
  /** Settles when the server answers, even before `end` (a refused batch). */
  result: Promise<grpc.ServiceError | null>;
  /** Set once the server answered. */
  answered: boolean;
  cancel(): void;
}

/** Opens EntrypointLogStream; its serializer passes Buffers through, so raw bytes can be sent. */
export function openLogStream(client: WaypointClient, metadata: grpc.Metadata): LogStream {
  const method = (protocol().hashicorp.waypoint.Waypoint.service as grpc.ServiceDefinition).EntrypointLogStream;
  const serialize = (value: unknown) => (Buffer.isBuffer(value) ? value : method.requestSerialize(value));
  let call!: grpc.ClientWritableStream<unknown>;
  const s = { answered: false } as LogStream;
  s.result = new Promise((resolve) => {
    call = client.makeClientStreamRequest(method.path, serialize, method.responseDeserialize, metadata, {}, (err) => {
      s.answered = true;
      resolve(err);
    });
  });
  s.send = (batch) => call.write(batch);
  s.sendRaw = (bytes) => call.write(bytes);
  s.end = () => {
    call.end();
    return s.result;
  };
  s.cancel = () => call.cancel();
  return s;
}

/** The error a call fails with; fails the test when it succeeds. */
export async function rpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** A gRPC stream's incoming side as a test reads it: what arrived, and how it ended. */
export interface StreamRecord<M> {
  /** Messages received, in order (inline keepalives are not among them). */
  messages: M[];
  keepalives: number;
  /** Set when the stream ended with an error status. */
  error?: grpc.ServiceError;
  ended: boolean;
  cancel(): void;
  /** Waits for `n` messages, or the end. */
  waitForMessages(n: number): Promise<void>;
  /** Waits for the end; the error status, if any. */
  waitForEnd(timeoutMs?: number): Promise<grpc.ServiceError | undefined>;
}

/** Records every message and the end of `call`; `onMessage` sees each message as it comes. */
export function recordStream<M>(
  call: { on(event: string, listener: (...args: never[]) => void): unknown; cancel(): void },
  what: string,
  onMessage: (m: M) => void = () => undefined,
): StreamRecord<M> {
  const s: StreamRecord<M> = {
    messages: [],
    keepalives: 0,
    ended: false,
    cancel: () => call.cancel(),
    waitForMessages: (n) => waitFor(() => s.messages.length >= n || s.ended, { what: () => `${n} ${what} messages` }),
    waitForEnd: async (timeoutMs = 10_000) => {
      await waitFor(() => s.ended, { timeoutMs, what: () => `the ${what} stream to end` });
      return s.error;
    },
  };
  call.on('data', (m: M | typeof KEEPALIVE) => {
    if (isKeepalive(m)) return void s.keepalives++;
    s.messages.push(m as M);
    onMessage(m as M);
  });
  call.on('error', (err: grpc.ServiceError) => {
    s.error = err;
    s.ended = true;
  });
  call.on('end', () => {
    s.ended = true;
  });
  return s;
}

export type ConfigStream = StreamRecord<EntrypointConfigResponse__Output>;

/** Opens EntrypointConfig and records everything that arrives on it. */
export function openConfig(client: WaypointClient, req: EntrypointConfigRequest, metadata: grpc.Metadata): ConfigStream {
  return recordStream(client.EntrypointConfig(req, metadata), 'config');
}
