// The config RPCs of our control API: messages in and out of AppConfig (vars, sources), and the
// dynamic vars' status the instances reported.
import type { ConfigEntry, ConfigEntry__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ConfigEntry.js';
import type { GetConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigRequest.js';
import type { GetConfigResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigResponse.js';
import type { SetConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigRequest.js';
import type { SetConfigResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigResponse.js';
import type { SetFileChangeSignalRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetFileChangeSignalRequest.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import type { Actor } from '../../audit.js';
import type { AppConfig } from '../../config/app-config.js';
import { dynamicConfig, type ViewedVar } from '../../config/resolve.js';
import type { InstanceRegistry } from '../../instances/registry.js';
import type { Replicas } from '../../replicas/replicas.js';
import { maskSettings } from '../../../rules/dynamic.js';
import type { GetConfigSourcesRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigSourcesRequest.js';
import type { GetConfigSourcesResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigSourcesResponse.js';
import type { GetConfigStatusRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigStatusRequest.js';
import type { GetConfigStatusResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigStatusResponse.js';
import type { SetConfigSourceRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigSourceRequest.js';
import type { UnsetConfigSourceRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/UnsetConfigSourceRequest.js';
import type { ConfigKind } from '../../../rules/config.js';
import type { VarChange } from '../../store/store.js';

const KIND_OF: Record<ConfigEntry__Output['kind'], ConfigKind> = { STATIC: 'static', INTERNAL: 'internal', FILE: 'file' };
const WIRE_KIND = { static: 'STATIC', internal: 'INTERNAL', file: 'FILE' } as const;

export async function setConfig(config: AppConfig, req: SetConfigRequest__Output, actor: Actor): Promise<SetConfigResponse> {
  const set: VarChange[] = req.set.map((e) =>
    e.dynamic
      ? { name: e.name, kind: KIND_OF[e.kind], value: Buffer.from(JSON.stringify(e.dynamic.config ?? {})), dynamicFrom: e.dynamic.from }
      : { name: e.name, kind: KIND_OF[e.kind], value: Buffer.from(e.value) },
  );
  return { instances_notified: await config.change(req.app, set, req.unset, actor) };
}

export async function setConfigSource(config: AppConfig, req: SetConfigSourceRequest__Output, actor: Actor): Promise<SetConfigResponse> {
  return { instances_notified: await config.setSource(req.app, req.type, { ...req.settings }, actor) };
}

export async function unsetConfigSource(config: AppConfig, req: UnsetConfigSourceRequest__Output, actor: Actor): Promise<SetConfigResponse> {
  return { instances_notified: await config.unsetSource(req.app, req.type, actor) };
}

export async function getConfigSources(config: AppConfig, req: GetConfigSourcesRequest__Output): Promise<GetConfigSourcesResponse> {
  const sources = await config.sourcesView(req.app);
  return {
    sources: sources.map((s) => ({ app: s.app, type: s.type, settings: s.settings, overridden: s.overridden, updated_at: toTimestamp(s.updatedAt) })),
  };
}

/**
 * What each live instance (of an app, or all) last reported of its dynamic vars; on replicas,
 * those connected to the other alive replicas too, as their replica last wrote it (a change of
 * a var's state, not each refresh).
 */
export async function getConfigStatus(registry: InstanceRegistry, replicas: Replicas, req: GetConfigStatusRequest__Output): Promise<GetConfigStatusResponse> {
  const app = req.app || undefined;
  const here = registry.list({ app });
  const ids = new Set(here.map((i) => i.id));
  const elsewhere = replicas.shared ? (await replicas.remoteInstances({ app })).filter((r) => r.replica.alive && !ids.has(r.info.id)).map((r) => r.info) : [];
  return {
    instances: [...here, ...elsewhere].map((i) => ({
      instance_id: i.id,
      app: i.app,
      deployment_id: i.deploymentId,
      vars: (i.configStatus?.vars ?? []).map((v) => ({
        name: v.name,
        source: v.source,
        ok: v.ok,
        message: v.message,
        ...(v.resolvedAt !== undefined && { resolved_at: toTimestamp(v.resolvedAt) }),
      })),
      ...(i.configStatus && { reported_at: toTimestamp(i.configStatus.reportedAt) }),
    })),
  };
}

export async function getConfig(config: AppConfig, req: GetConfigRequest__Output): Promise<GetConfigResponse> {
  const { vars, fileChangeSignal } = await config.view(req.app);
  return { vars: vars.map(entry), file_change_signal: fileChangeSignal };
}

export async function setFileChangeSignal(config: AppConfig, req: SetFileChangeSignalRequest__Output, actor: Actor): Promise<SetConfigResponse> {
  return { instances_notified: await config.setFileChangeSignal(req.app, req.signal, actor) };
}

function entry(v: ViewedVar): ConfigEntry {
  return {
    name: v.name,
    kind: WIRE_KIND[v.kind],
    ...(v.dynamicFrom === undefined ? { value: v.value } : { dynamic: { from: v.dynamicFrom, config: maskSettings(dynamicConfig(v)) } }),
    app: v.app,
    overridden: v.overridden,
    updated_at: toTimestamp(v.updatedAt),
  };
}
