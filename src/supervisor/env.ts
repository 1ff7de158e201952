// The environment the app sees: ours, minus our secrets, plus PORT, with the app's own
// NODE_OPTIONS handed back (bin/waypoint-entrypoint set it aside so it would not act on us).
import type { Env } from '../settings.js';

/** Never visible to the app: a leaked invite token lets anyone register as this deployment. */
export const SECRET_VARS: readonly string[] = ['WAYPOINT_CEB_INVITE_TOKEN'];

/** Set by bin/waypoint-entrypoint when NODE_OPTIONS was set; holds the app's value. */
export const SAVED_NODE_OPTIONS = 'WAYPOINT_CEB_APP_NODE_OPTIONS';

export function childEnv(ours: Env, port: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(ours)) {
    if (value !== undefined && !SECRET_VARS.includes(name) && name !== SAVED_NODE_OPTIONS) env[name] = value;
  }
  const savedNodeOptions = ours[SAVED_NODE_OPTIONS];
  if (savedNodeOptions !== undefined) env.NODE_OPTIONS = savedNodeOptions;
  if (!env.PORT) env.PORT = String(port);
  return env;
}
