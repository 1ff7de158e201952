// What an instance is told on its config stream. Today: its deployment's labels and no env vars;
// the app config issue fills env vars and files in here, and pushes a fresh message to every
// live instance of an app (InstanceRegistry.ofApp) when they change.
import type { EntrypointConfigResponse } from '../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import type { Deployment } from './store.js';

export function configFor(deployment: Deployment): EntrypointConfigResponse {
  return {
    config: {
      deployment: { labels: deployment.labels },
      env_vars: [],
    },
  };
}
