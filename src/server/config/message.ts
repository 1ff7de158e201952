// What an instance is told on its config stream: its app's effective vars (the full set, every
// time), the app's file change signal, its deployment's labels, and, when some var is dynamic,
// the config sources' settings ordered global -> app (the most specific last), as Waypoint
// sends them: for each type the instance takes the last.
import { createHash } from 'node:crypto';
import type { ConfigSource } from '../../protocol/generated/hashicorp/waypoint/ConfigSource.js';
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { type StoredVar, toWire } from './resolve.js';
import type { Deployment, StoredSource } from '../store/store.js';

export interface AppSettings {
  /** Resolved: app vars over global ones, by name. */
  vars: StoredVar[];
  /** '' for none. */
  fileChangeSignal: string;
  /** The sources of the global scope, then the app's. */
  sources: StoredSource[];
}

export function configFor(deployment: Deployment, app: AppSettings): EntrypointConfigResponse {
  const dynamic = app.vars.some((v) => v.dynamicFrom !== undefined);
  return {
    config: {
      deployment: { labels: deployment.labels },
      env_vars: toWire(app.vars),
      file_change_signal: app.fileChangeSignal,
      ...(dynamic && app.sources.length > 0 && { config_sources: app.sources.map(sourceToWire) }),
    },
  };
}

function sourceToWire(s: StoredSource): ConfigSource {
  return {
    type: s.type,
    config: s.settings,
    hash: sourceHash(s),
    ...(s.app === '' ? { global: {} } : { application: { application: s.app, project: s.app } }),
  };
}

/** Waypoint's `hash`: changes with the settings, so an entrypoint that compares hashes sees it. */
export function sourceHash(s: Pick<StoredSource, 'type' | 'settings'>): string {
  const keys = Object.keys(s.settings).sort();
  const digest = createHash('sha256').update(JSON.stringify([s.type, keys.map((k) => [k, s.settings[k]])])).digest();
  return digest.readBigUInt64BE(0).toString();
}
