// The InstanceStatus service (waypoint_entrypoint.status.v1), beside Waypoint's on the same port:
// an entrypoint says what became of its app after a config change (refused, failed restart,
// running), and `waypoint-ctl instances` shows it. Checked as the Tunnel's Register is: client
// protocol versions, then the token, which must be the entrypoint token that registered the
// instance (not the operator's: the state is the instance's word, not anyone else's).
import type { handleUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Empty } from '../../../protocol/generated/google/protobuf/Empty.js';
import type { ReportStatusRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/status/v1/ReportStatusRequest.js';
import { fromTimestamp } from '../../../protocol/timestamp.js';
import { requireDeployment } from '../../auth/authenticator.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { checkInstanceId, type InstanceStatus } from '../../instances/registry.js';
import { failedPrecondition, invalidArgument, permissionDenied, reported } from '../../rpc/status.js';

const ENTRYPOINT_PROTOCOLS = ['api', 'entrypoint'] as const;

/** The states a report may set; anything else (UNSPECIFIED, a number we do not know) is refused. */
export const INSTANCE_STATES = ['RUNNING', 'CONFIG_REFUSED', 'RESTART_FAILED'] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** A message kept per instance at most (UTF-8 bytes): each live instance holds one. */
export const MAX_STATUS_MESSAGE_BYTES = 1024;
const TRUNCATED = '…';

export type StatusContext = Pick<ServerContext, 'auth' | 'registry' | 'log'>;

export function statusHandlers(ctx: StatusContext): UntypedServiceImplementation {
  return { Report: report(ctx) };
}

function report(ctx: StatusContext): handleUnaryCall<ReportStatusRequest__Output, Empty> {
  return (call, callback) => {
    try {
      checkClientProtocols(call.metadata, ENTRYPOINT_PROTOCOLS);
      const principal = ctx.auth.principal(call.metadata, 'Report');
      if (principal.kind !== 'entrypoint') {
        throw permissionDenied("only the entrypoint token that registered an instance may report its status, not the operator's");
      }
      const { instance_id: instanceId } = call.request;
      if (!instanceId) throw invalidArgument('Report needs an instance_id');
      checkInstanceId(instanceId, 'Report');
      const live = ctx.registry.get(instanceId);
      if (!live) throw failedPrecondition(`instance ${instanceId} is not registered: open its EntrypointConfig stream first`);
      const { info } = live;
      requireDeployment(principal, info.deploymentId, 'Report');
      if (principal.tokenId !== info.tokenId) {
        throw permissionDenied(`instance ${instanceId} was registered by another token: only that token may report its status`);
      }
      const status = checkStatusReport(call.request, Date.now());
      const changed = info.status?.state !== status.state || info.status.message !== status.message;
      info.status = status;
      ctx.registry.changed(info.id);
      if (changed) {
        const fields = { instance: info.id, app: info.app, state: status.state, ...(status.message && { message: status.message }) };
        if (status.state === 'RUNNING') ctx.log.info('instance status', fields);
        else ctx.log.warn('instance status', fields);
      }
      callback(null, {});
    } catch (err) {
      callback(reported(ctx.log, err, 'Report'));
    }
  };
}

/** The status a report sets: its state checked, its message bounded, its time not in the future. */
export function checkStatusReport(req: Pick<ReportStatusRequest__Output, 'state' | 'message' | 'since'>, now: number): InstanceStatus {
  const state = req.state as unknown;
  if (!INSTANCE_STATES.includes(state as InstanceState)) {
    throw invalidArgument(`unknown instance state ${JSON.stringify(String(state).slice(0, 40))}: one of ${INSTANCE_STATES.join(', ')}`);
  }
  const since = fromTimestamp(req.since);
  return {
    state: state as InstanceState,
    message: truncateUtf8(req.message, MAX_STATUS_MESSAGE_BYTES),
    // By the instance's clock: one ahead of ours (or garbage) is taken as now.
    since: since !== undefined && Number.isFinite(since) && since >= 0 && since <= now ? since : now,
  };
}

/** `text` in at most `maxBytes` of UTF-8, cut at a character and marked when cut. */
export function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const room = maxBytes - Buffer.byteLength(TRUNCATED);
  let bytes = 0;
  let end = 0;
  for (const c of text) {
    const size = Buffer.byteLength(c);
    if (bytes + size > room) break;
    bytes += size;
    end += c.length;
  }
  return text.slice(0, end) + TRUNCATED;
}
