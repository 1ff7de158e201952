// What an instance is told on its config stream: its app's effective vars (the full set, every
// time), the app's file change signal, and its deployment's labels.
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { type StoredVar, toWire } from './resolve.js';
import type { Deployment } from '../store/store.js';

export interface AppSettings {
  /** Resolved: app vars over global ones, by name. */
  vars: StoredVar[];
  /** '' for none. */
  fileChangeSignal: string;
}

export function configFor(deployment: Deployment, app: AppSettings): EntrypointConfigResponse {
  return {
    config: {
      deployment: { labels: deployment.labels },
      env_vars: toWire(app.vars),
      file_change_signal: app.fileChangeSignal,
    },
  };
}
