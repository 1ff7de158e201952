// gRPC clients of the reference server for tests, built from src/protocol/load.ts: the metadata
// conventions of section 4, promise wrappers, and a config stream that records what it gets.
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

/** The error a call fails with; fails the test when it succeeds. */
export async function rpcError(call: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await call;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('expected the call to fail, it succeeded');
}

export interface ConfigStream {
  /** Config messages received (keepalives are not among them). */
  messages: EntrypointConfigResponse__Output[];
  keepalives: number;
  /** Set when the stream ended with an error status. */
  error?: grpc.ServiceError;
  ended: boolean;
  cancel(): void;
  waitForMessages(n: number): Promise<void>;
  waitForEnd(): Promise<grpc.ServiceError | undefined>;
}

/** Opens EntrypointConfig and records everything that arrives on it. */
export function openConfig(client: WaypointClient, req: EntrypointConfigRequest, metadata: grpc.Metadata): ConfigStream {
  const call = client.EntrypointConfig(req, metadata);
  const s: ConfigStream = {
    messages: [],
    keepalives: 0,
    ended: false,
    cancel: () => call.cancel(),
    waitForMessages: (n) => waitFor(() => s.messages.length >= n || s.ended, { what: () => `${n} config messages` }),
    waitForEnd: async () => {
      await waitFor(() => s.ended, { what: () => 'the config stream to end' });
      return s.error;
    },
  };
  call.on('data', (m: EntrypointConfigResponse__Output | typeof KEEPALIVE) => {
    if (isKeepalive(m)) s.keepalives++;
    else s.messages.push(m);
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
