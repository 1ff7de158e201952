// The image config with the entrypoint in front: `Entrypoint` becomes ["/waypoint-entrypoint",
// …the old Entrypoint], `Cmd` is kept (so `docker run img args` still replaces only the args),
// the layer's diff_id and a history entry are added. Pure: the same config in, the same bytes out.
import { ENTRYPOINT_PATH } from './layer.js';

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  config?: { Entrypoint?: string[] | null; Cmd?: string[] | null; [key: string]: unknown } | null;
  rootfs?: { type: string; diff_ids: string[] };
  history?: Array<{ created?: string; created_by?: string; comment?: string; empty_layer?: boolean }>;
  [key: string]: unknown;
}

export class InjectError extends Error {}

/** Already there: its Entrypoint starts with ours. */
export function isInjected(config: ImageConfig): boolean {
  return config.config?.Entrypoint?.[0] === ENTRYPOINT_PATH;
}

export function injectConfig(config: ImageConfig, diffId: string, createdBy: string): ImageConfig {
  const run = config.config ?? {};
  const entrypoint = run.Entrypoint ?? [];
  const cmd = run.Cmd ?? [];
  if (entrypoint.length === 0 && cmd.length === 0) {
    throw new InjectError('the image has neither Entrypoint nor Cmd: there is no app for the entrypoint to run');
  }
  if (!config.rootfs || config.rootfs.type !== 'layers' || !Array.isArray(config.rootfs.diff_ids)) {
    throw new InjectError('the image config has no rootfs.diff_ids of type "layers"');
  }
  return {
    ...config,
    config: { ...run, Entrypoint: [ENTRYPOINT_PATH, ...entrypoint] },
    rootfs: { ...config.rootfs, diff_ids: [...config.rootfs.diff_ids, diffId] },
    history: [
      ...(config.history ?? []),
      // The image's own creation time: an inject of the same image gives the same config.
      { ...(config.created ? { created: config.created } : {}), created_by: createdBy, comment: `${ENTRYPOINT_PATH} added in front of the Entrypoint` },
    ],
  };
}
