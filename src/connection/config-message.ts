// Checks each EntrypointConfigResponse before anyone applies it. A message that breaks the
// protocol's shape (no config at all, an env var without a name, an exec without a command) is
// a server bug: applying it could restart the app with half a configuration, so it is refused
// whole and the previous config stays.
import type { EntrypointConfig__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { EntrypointConfigResponse__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';

export type EntrypointConfig = EntrypointConfig__Output;

export type Checked = { ok: true; config: EntrypointConfig } | { ok: false; problem: string };

export function checkConfigResponse(response: EntrypointConfigResponse__Output): Checked {
  const config = response.config;
  if (!config) return { ok: false, problem: 'the message carries no config' };
  for (const [i, v] of (config.env_vars ?? []).entries()) {
    if (!v.name) return { ok: false, problem: `env var #${i} has no name` };
    if (!v.name_is_path && /[=\0]/.test(v.name)) {
      return { ok: false, problem: `env var name ${JSON.stringify(v.name)} contains "=" or NUL` };
    }
  }
  for (const e of config.exec ?? []) {
    if (!/^\d+$/.test(String(e.index))) return { ok: false, problem: `exec index ${JSON.stringify(e.index)} is not a non-negative integer` };
    if (e.args.length === 0) return { ok: false, problem: `exec ${e.index} has no command` };
  }
  return { ok: true, config };
}

/** Counts for a debug line; never values (they may be secrets). */
export function describeConfig(config: EntrypointConfig): Record<string, number | string | undefined> {
  return {
    env_vars: config.env_vars.length,
    files: config.env_vars.filter((v) => v.name_is_path).length,
    exec: config.exec.length,
    url_service: config.url_service ? 'yes' : 'no',
    config_sources: config.config_sources.length,
    file_change_signal: config.file_change_signal || undefined,
  };
}
