// The app's environment: our base child env (ours minus secrets, plus PORT) with the current
// config env on top. Held in one place so that a restart and, later, exec sessions read the
// same current value.

export type EnvVars = Record<string, string>;

export class AppEnv {
  private config = new Map<string, string | null>();

  constructor(private readonly base: EnvVars) {}

  /** Replaces the config part; returns whether the resulting env changed. */
  update(config: Map<string, string | null>): boolean {
    const before = this.current();
    this.config = new Map(config);
    return !sameEnv(before, this.current());
  }

  /** A fresh copy of the env the app gets now. */
  current(): EnvVars {
    return applyConfigEnv(this.base, this.config);
  }
}

/** `base` with `config` on top: a value sets, null removes. */
export function applyConfigEnv(base: EnvVars, config: ReadonlyMap<string, string | null>): EnvVars {
  const env: EnvVars = { ...base };
  for (const [name, value] of config) {
    if (value === null) delete env[name];
    else env[name] = value;
  }
  return env;
}

export function sameEnv(a: EnvVars | undefined, b: EnvVars | undefined): boolean {
  if (!a || !b) return a === b;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** The names whose value differs, for a log line (never the values: they may be secrets). */
export function changedNames(a: EnvVars, b: EnvVars): string[] {
  const names = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...names].filter((n) => a[n] !== b[n]).sort();
}
