// The ctl's side of our control API: one channel to the target server, the operator token and
// our protocol versions on every call, and each failure turned into one line saying what to do.
import { readFileSync } from 'node:fs';
import { grpc, protocol } from '../protocol/load.js';
import { formatRange, METADATA, PROTOCOL_VERSIONS } from '../protocol/metadata.js';
import type { ControlClient } from '../protocol/generated/waypoint_entrypoint/control/v1/Control.js';
import type { CreateDeploymentResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/CreateDeploymentResponse.js';
import type { CreateInviteResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/CreateInviteResponse.js';
import type { InviteTtl } from '../protocol/generated/waypoint_entrypoint/control/v1/InviteTtl.js';
import type { ListTokensRequest } from '../protocol/generated/waypoint_entrypoint/control/v1/ListTokensRequest.js';
import type { ListTokensResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ListTokensResponse.js';
import type { RevokeTokenResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/RevokeTokenResponse.js';
import type { RotateOperatorTokenResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/RotateOperatorTokenResponse.js';
import type { ListDeploymentsResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ListDeploymentsResponse.js';
import type { ListInstancesResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ListInstancesResponse.js';
import type { ListReplicasResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ListReplicasResponse.js';
import type { GetConfigResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/GetConfigResponse.js';
import type { GetConfigSourcesResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/GetConfigSourcesResponse.js';
import type { GetConfigStatusResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/GetConfigStatusResponse.js';
import type { GetLogsRequest } from '../protocol/generated/waypoint_entrypoint/control/v1/GetLogsRequest.js';
import type { GetLogsResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/GetLogsResponse.js';
import type { ListExecSessionsRequest } from '../protocol/generated/waypoint_entrypoint/control/v1/ListExecSessionsRequest.js';
import type { ListExecSessionsResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ListExecSessionsResponse.js';
import type { ListUrlsResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ListUrlsResponse.js';
import type { SetConfigRequest } from '../protocol/generated/waypoint_entrypoint/control/v1/SetConfigRequest.js';
import type { SetConfigResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/SetConfigResponse.js';
import { CtlError } from './errors.js';
import { type ExecCall, openExec } from './exec-wire.js';
import type { Target, TlsSettings } from './target.js';
import { STORE_UNAVAILABLE } from '../server/store/store.js';

declare const __VERSION__: string;

const CALL_TIMEOUT_MS = 10_000;
/** A GetLogs message holds up to 1 MiB of lines, plus one line of up to the server's 4 MiB. */
const MAX_RECEIVE_BYTES = 16 * 1024 * 1024;
/** Our HTTP/2 receive window, per stream and for the connection. */
const RECEIVE_WINDOW_BYTES = 1024 * 1024;

export interface ControlApi {
  createDeployment(app: string, labels: Record<string, string>, inviteTtl?: InviteTtl): Promise<CreateDeploymentResponse__Output>;
  createInvite(deploymentId: string, inviteTtl?: InviteTtl): Promise<CreateInviteResponse__Output>;
  listTokens(req: ListTokensRequest): Promise<ListTokensResponse__Output>;
  revokeToken(id: string): Promise<RevokeTokenResponse__Output>;
  rotateOperatorToken(): Promise<RotateOperatorTokenResponse__Output>;
  listDeployments(app?: string): Promise<ListDeploymentsResponse__Output>;
  listInstances(app?: string): Promise<ListInstancesResponse__Output>;
  listReplicas(): Promise<ListReplicasResponse__Output>;
  setConfig(req: SetConfigRequest): Promise<SetConfigResponse__Output>;
  getConfig(app?: string): Promise<GetConfigResponse__Output>;
  setFileChangeSignal(app: string, signal: string): Promise<SetConfigResponse__Output>;
  setConfigSource(app: string, type: string, settings: Record<string, string>): Promise<SetConfigResponse__Output>;
  unsetConfigSource(app: string, type: string): Promise<SetConfigResponse__Output>;
  getConfigSources(app?: string): Promise<GetConfigSourcesResponse__Output>;
  getConfigStatus(app?: string): Promise<GetConfigStatusResponse__Output>;
  /** A stream, without a deadline: the caller handles its events (errors through `explain`). */
  getLogs(req: GetLogsRequest): grpc.ClientReadableStream<GetLogsResponse__Output>;
  /** The exec stream, without a deadline: a session lasts as long as its command. */
  exec(): ExecCall;
  listExecSessions(req: ListExecSessionsRequest): Promise<ListExecSessionsResponse__Output>;
  listUrls(app?: string): Promise<ListUrlsResponse__Output>;
  close(): void;
}

export function connect(target: Target): ControlApi {
  const Control = protocol().waypoint_entrypoint.control.v1.Control;
  const client = new Control(target.addr, credentials(target.tls), {
    'grpc.max_receive_message_length': MAX_RECEIVE_BYTES,
    // exec output and logs -f flow to us: Node's 64 KiB window would allow one 64 KiB message
    // per round trip with the server. This one bounds what a paused stream holds here.
    'grpc-node.flow_control_window': RECEIVE_WINDOW_BYTES,
  }) as ControlClient;
  const metadata = new grpc.Metadata();
  metadata.set(METADATA.authorization, target.token);
  metadata.set(METADATA.apiProtocol, formatRange(PROTOCOL_VERSIONS.api));
  metadata.set(METADATA.version, typeof __VERSION__ === 'string' ? __VERSION__ : 'dev');

  /** One unary call, with a deadline, its error explained. */
  function unary<Req, Res>(
    method: (req: Req, md: grpc.Metadata, opts: grpc.CallOptions, cb: grpc.requestCallback<Res>) => unknown,
    req: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(client, req, metadata, { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
        if (err) reject(explain(err, target));
        else resolve(res!);
      });
    });
  }

  return {
    createDeployment: (app, labels, inviteTtl) => unary(client.CreateDeployment, { app, labels, invite_ttl: inviteTtl }),
    createInvite: (deploymentId, inviteTtl) => unary(client.CreateInvite, { deployment_id: deploymentId, invite_ttl: inviteTtl }),
    listTokens: (req) => unary(client.ListTokens, req),
    revokeToken: (id) => unary(client.RevokeToken, { id }),
    rotateOperatorToken: () => unary(client.RotateOperatorToken, {}),
    listDeployments: (app = '') => unary(client.ListDeployments, { app }),
    listInstances: (app = '') => unary(client.ListInstances, { app }),
    listReplicas: () => unary(client.ListReplicas, {}),
    setConfig: (req) => unary(client.SetConfig, req),
    getConfig: (app = '') => unary(client.GetConfig, { app }),
    setFileChangeSignal: (app, signal) => unary(client.SetFileChangeSignal, { app, signal }),
    setConfigSource: (app, type, settings) => unary(client.SetConfigSource, { app, type, settings }),
    unsetConfigSource: (app, type) => unary(client.UnsetConfigSource, { app, type }),
    getConfigSources: (app = '') => unary(client.GetConfigSources, { app }),
    getConfigStatus: (app = '') => unary(client.GetConfigStatus, { app }),
    getLogs: (req) => client.GetLogs(req, metadata),
    exec: () => openExec(client, metadata),
    listExecSessions: (req) => unary(client.ListExecSessions, req),
    listUrls: (app = '') => unary(client.ListUrls, { app }),
    close: () => client.close(),
  };
}

function credentials(tls: TlsSettings | undefined): grpc.ChannelCredentials {
  if (!tls) return grpc.credentials.createInsecure();
  let ca: Buffer | null = null;
  if (tls.caFile) {
    try {
      ca = readFileSync(tls.caFile);
    } catch (err) {
      throw new CtlError(`cannot read the CA file ${tls.caFile}: ${(err as Error).message}`);
    }
  }
  return grpc.credentials.createSsl(
    ca,
    null,
    null,
    tls.skipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {},
  );
}

/** A gRPC failure as one line: what happened at which server, and what to try. */
export function explain(err: grpc.ServiceError, target: Target): CtlError {
  const details = err.details || err.message;
  const at = `the server at ${target.addr}`;
  switch (err.code) {
    case grpc.status.UNAVAILABLE:
      // The server answered: it is its database it cannot reach.
      if (details.startsWith(STORE_UNAVAILABLE)) return new CtlError(`${at} cannot serve this now: ${details}`);
      if (/certificate|self[- ]signed|SSL|TLS/i.test(details)) {
        return new CtlError(
          `TLS with ${at} failed: ${details}; pass --tls-ca-file <ca.pem> for a private CA (or --tls-skip-verify for a test server)`,
        );
      }
      return new CtlError(
        `cannot reach ${at}: ${details}; is it running (waypoint-ctl server run)${target.tls ? '' : ', and does it need --tls'}?`,
      );
    case grpc.status.DEADLINE_EXCEEDED:
      return new CtlError(`${at} did not answer within ${CALL_TIMEOUT_MS / 1000} s${target.tls ? '' : ' (does it need --tls?)'}`);
    case grpc.status.UNAUTHENTICATED:
      return new CtlError(`${at} refused the token: ${details}`);
    case grpc.status.PERMISSION_DENIED:
      return new CtlError(`${at} denied the call: ${details}`);
    default:
      return new CtlError(`${at} answered ${grpc.status[err.code] ?? err.code}: ${details}`);
  }
}
