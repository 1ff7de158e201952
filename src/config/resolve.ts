// One EntrypointConfig's env_vars → what to apply: the app's config env, the files, our log
// level, and what to warn about. Pure: the applier (applier.ts) acts on the result.
//
// Each message carries the full set, so the result replaces the previous one whole:
//   - static value: set; an empty static or `unset`: the name is removed from the app's env
//     (even a value it would inherit from ours);
//   - internal: never in the env, only referenced as `${config.internal.NAME}` in other values;
//   - name_is_path: a file (the name its path, the value its content);
//   - dynamic: the value the resolver (dynamic/resolver.ts) read, given in `dynamicValues`;
//     one with no good value (yet) is left out; a backend's value is used verbatim (no
//     interpolation), and an internal one interpolates into static values like any other;
//   - WAYPOINT_LOG_LEVEL: ours; it changes our log level and does not restart the app.
import type { ConfigVar__Output } from '../protocol/generated/hashicorp/waypoint/ConfigVar.js';
import type { DynamicVar } from './dynamic/merge.js';
import { interpolate } from './interpolate.js';

export const LOG_LEVEL_VAR = 'WAYPOINT_LOG_LEVEL';

export interface ConfigFile {
  /** As the server named it; relative paths are resolved against our working directory. */
  path: string;
  content: string;
}

export interface ResolvedConfig {
  /** name → value to set, or null to remove the name from the app's env. */
  env: Map<string, string | null>;
  files: ConfigFile[];
  /** WAYPOINT_LOG_LEVEL from the config, as given (validated by the applier). */
  logLevel?: string;
  /** Dynamic vars with no value to give: left out. */
  dynamic: Array<{ name: string; from: string }>;
  /** References to internal vars that do not exist: { var that references, name referenced }. */
  unknownRefs: Array<{ name: string; ref: string }>;
  /** Env var names no env can carry to the app: skipped, with why. */
  badNames: Array<{ name: string; reason: string }>;
}

/**
 * Why `name` cannot be an env var of the app, if it cannot. `NAME=value` strings split at the
 * first `=`, and a NUL ends them. `__proto__` cannot pass through every spawn we use: node-pty
 * (a terminal, exec -t) copies the env into a plain object, where that name is the prototype's
 * setter, so it would reach the app on pipes and silently vanish on a terminal. It is no portable
 * name either (POSIX: upper case, digits, `_`). Other names (`constructor`, `toString`) are plain
 * data everywhere and pass.
 */
export function envNameProblem(name: string): string | undefined {
  if (name === '') return 'an empty name';
  if (name.includes('=')) return 'a name cannot hold "="';
  if (name.includes('\0')) return 'a name cannot hold a NUL byte';
  if (name === '__proto__') return 'a name a terminal\'s env cannot carry';
  return undefined;
}

type ValueKind =
  | { kind: 'static'; value: string; verbatim?: boolean }
  | { kind: 'unset' }
  | { kind: 'dynamic'; from: string };

export function isDynamic(v: ConfigVar__Output): boolean {
  return v.value === 'dynamic' || (v.value === undefined && !!v.dynamic);
}

/** The dynamic vars of a config, as the resolver takes them. */
export function dynamicVars(vars: readonly ConfigVar__Output[]): DynamicVar[] {
  return vars.filter(isDynamic).map((v) => ({
    name: v.name,
    from: v.dynamic?.from || 'unknown',
    config: { ...(v.dynamic?.config ?? {}) },
    internal: v.internal,
    file: v.name_is_path,
  }));
}

function valueOf(v: ConfigVar__Output, dynamicValues: ReadonlyMap<string, string>): ValueKind {
  if (isDynamic(v)) {
    const value = dynamicValues.get(v.name);
    // A backend's value as it is: an empty one is a value, and no `${...}` in it is expanded.
    return value === undefined ? { kind: 'dynamic', from: v.dynamic?.from || 'unknown' } : { kind: 'static', value, verbatim: true };
  }
  if (v.value === 'static' || (v.value === undefined && v.static)) {
    return v.static ? { kind: 'static', value: v.static } : { kind: 'unset' };
  }
  return { kind: 'unset' };
}

export function resolveConfig(vars: readonly ConfigVar__Output[], dynamicValues: ReadonlyMap<string, string> = new Map()): ResolvedConfig {
  const internal = new Map<string, string>();
  for (const v of vars) {
    const value = valueOf(v, dynamicValues);
    if (v.internal && !v.name_is_path && value.kind === 'static') internal.set(v.name, value.value);
  }
  const result: ResolvedConfig = { env: new Map(), files: [], dynamic: [], unknownRefs: [], badNames: [] };
  for (const v of vars) {
    const value = valueOf(v, dynamicValues);
    if (value.kind === 'dynamic') {
      result.dynamic.push({ name: v.name, from: value.from });
      continue;
    }
    if (v.name_is_path) {
      if (value.kind === 'static') result.files.push({ path: v.name, content: value.value });
      continue;
    }
    if (v.internal) continue;
    const problem = v.name === LOG_LEVEL_VAR ? undefined : envNameProblem(v.name);
    if (problem) {
      result.badNames.push({ name: v.name, reason: problem });
      continue;
    }
    if (value.kind === 'unset') {
      if (v.name === LOG_LEVEL_VAR) result.logLevel = undefined;
      else result.env.set(v.name, null);
      continue;
    }
    const { value: text, unknown } = value.verbatim ? { value: value.value, unknown: [] } : interpolate(value.value, internal);
    for (const ref of unknown) result.unknownRefs.push({ name: v.name, ref });
    if (v.name === LOG_LEVEL_VAR) result.logLevel = text;
    else result.env.set(v.name, text);
  }
  return result;
}
