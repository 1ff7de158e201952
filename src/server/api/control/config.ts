// The config RPCs of our control API: messages in and out of AppConfig.
import type { ConfigEntry, ConfigEntry__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/ConfigEntry.js';
import type { GetConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigRequest.js';
import type { GetConfigResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/GetConfigResponse.js';
import type { SetConfigRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigRequest.js';
import type { SetConfigResponse } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetConfigResponse.js';
import type { SetFileChangeSignalRequest__Output } from '../../../protocol/generated/waypoint_entrypoint/control/v1/SetFileChangeSignalRequest.js';
import { toTimestamp } from '../../../protocol/timestamp.js';
import type { Actor } from '../../audit.js';
import type { AppConfig } from '../../config/app-config.js';
import type { ViewedVar } from '../../config/resolve.js';
import type { ConfigKind } from '../../../rules/config.js';
import type { VarChange } from '../../store/store.js';

const KIND_OF: Record<ConfigEntry__Output['kind'], ConfigKind> = { STATIC: 'static', INTERNAL: 'internal', FILE: 'file' };
const WIRE_KIND = { static: 'STATIC', internal: 'INTERNAL', file: 'FILE' } as const;

export async function setConfig(config: AppConfig, req: SetConfigRequest__Output, actor: Actor): Promise<SetConfigResponse> {
  const set: VarChange[] = req.set.map((e) => ({ name: e.name, kind: KIND_OF[e.kind], value: Buffer.from(e.value) }));
  return { instances_notified: await config.change(req.app, set, req.unset, actor) };
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
    value: v.value,
    app: v.app,
    overridden: v.overridden,
    updated_at: toTimestamp(v.updatedAt),
  };
}
