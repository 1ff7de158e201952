// The InstanceStatus service (waypoint_entrypoint.status.v1), beside Waypoint's on the same port:
// an entrypoint says what became of its app after a config change (refused, failed restart,
// running), and `waypoint-ctl instances` shows it. Checked as the Tunnel's Register is: client
// protocol versions, then the token, which must be the entrypoint token that registered the
// instance (not the operator's: the state is the instance's word, not anyone else's).
import type { handleUnaryCall, Metadata, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { ReportConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/status/v1/ReportConfigRequest.js';
import type { Empty } from '../../../protocol/generated/google/protobuf/Empty.js';
import type { ReportStatusRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/status/v1/ReportStatusRequest.js';
import { fromTimestamp } from '../../../protocol/timestamp.js';
import { requireDeployment } from '../../auth/authenticator.js';
import { checkClientProtocols } from '../../rpc/compat.js';
import type { ServerContext } from '../../context.js';
import { checkInstanceId, type InstanceInfo, type InstanceStatus } from '../../instances/registry.js';
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
  return { Report: report(ctx), ReportConfig: reportConfig(ctx) };
}

/** The live instance a report is about, once the caller is the token that registered it. */
async function reportedInstance(ctx: StatusContext, metadata: Metadata, instanceId: string, rpc: string): Promise<InstanceInfo> {
  checkClientProtocols(metadata, ENTRYPOINT_PROTOCOLS);
  const principal = await ctx.auth.principal(metadata, rpc);
  if (principal.kind !== 'entrypoint') {
    throw permissionDenied("only the entrypoint token that registered an instance may report its status, not the operator's");
  }
  if (!instanceId) throw invalidArgument(`${rpc} needs an instance_id`);
  checkInstanceId(instanceId, rpc);
  const live = ctx.registry.get(instanceId);
  if (!live) throw failedPrecondition(`instance ${instanceId} is not registered: open its EntrypointConfig stream first`);
  const { info } = live;
  requireDeployment(principal, info.deploymentId, rpc);
  if (principal.tokenId !== info.tokenId) {
    throw permissionDenied(`instance ${instanceId} was registered by another token: only that token may report its status`);
  }
  return info;
}

/** At most this many dynamic vars are kept per instance (a config has far fewer). */
export const MAX_REPORTED_VARS = 1000;

function reportConfig(ctx: StatusContext): handleUnaryCall<ReportConfigRequest__Output, Empty> {
  return async (call, callback) => {
    try {
      const info = await reportedInstance(ctx, call.metadata, call.request.instance_id, 'ReportConfig');
      const now = Date.now();
      const vars = call.request.vars.slice(0, MAX_REPORTED_VARS).map((v) => {
        const resolvedAt = fromTimestamp(v.resolved_at);
        return {
          name: truncateUtf8(v.name, 256),
          source: truncateUtf8(v.source, 64),
          ok: v.ok,
          message: truncateUtf8(v.message, MAX_STATUS_MESSAGE_BYTES),
          ...(resolvedAt !== undefined && Number.isFinite(resolvedAt) && resolvedAt >= 0 && { resolvedAt: Math.min(resolvedAt, now) }),
        };
      });
      const failing = (vs: Array<{ ok: boolean }> | undefined) => (vs ?? []).filter((v) => !v.ok).length;
      if (failing(info.configStatus?.vars) !== failing(vars)) {
        const fields = { instance: info.id, app: info.app, vars: vars.length, failing: failing(vars) };
        if (failing(vars) === 0) ctx.log.info('dynamic config status', fields);
        else ctx.log.warn('dynamic config status', fields);
      }
      // What the other replicas read of it (its row) changes only when a var's state does, not at each refresh.
      const shape = (vs: Array<{ name: string; source: string; ok: boolean; message: string }> | undefined) =>
        JSON.stringify((vs ?? []).map((v) => [v.name, v.source, v.ok, v.message]));
      const changed = shape(info.configStatus?.vars) !== shape(vars);
      info.configStatus = { vars, reportedAt: now };
      if (changed) ctx.registry.changed(info.id);
      callback(null, {});
    } catch (err) {
      callback(reported(ctx.log, err, 'ReportConfig'));
    }
  };
}

function report(ctx: StatusContext): handleUnaryCall<ReportStatusRequest__Output, Empty> {
  return async (call, callback) => {
    try {
      const info = await reportedInstance(ctx, call.metadata, call.request.instance_id, 'Report');
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
