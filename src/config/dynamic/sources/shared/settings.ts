// A source's settings: the ConfigSource's own (by Waypoint's names) first, then the backend's
// usual environment variables (VAULT_ADDR, CONSUL_HTTP_TOKEN…), as that backend's CLI reads them.
import { readFileSync } from 'node:fs';
import type { Logger } from '../../../../log.js';
import { SourceSettingsError } from '../../source.js';

export type Settings = Readonly<Record<string, string>>;

/** The setting `key`, else the first of `envNames` that is set; empty values count as unset. */
export function pick(settings: Settings, env: NodeJS.ProcessEnv, key: string, ...envNames: string[]): string | undefined {
  const own = settings[key];
  if (own !== undefined && own !== '') return own;
  for (const name of envNames) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}

/** true/false as Go's strconv.ParseBool takes them (1, t, TRUE, false, 0…), which the Vault
 * and Consul CLIs use for their *_SKIP_VERIFY / *_SSL variables. */
export function parseBool(value: string | undefined, what: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (/^(1|t|true)$/i.test(value)) return true;
  if (/^(0|f|false)$/i.test(value)) return false;
  throw new SourceSettingsError(`${what} must be true or false, not ${JSON.stringify(value)}`);
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in milliseconds: "10s", "500ms", "5m", or a bare number of seconds (as
 * VAULT_CLIENT_TIMEOUT is written). */
export function parseDuration(value: string | undefined, what: string, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  const ms = m ? Number(m[1]) * UNITS[m[2] ?? 's'] : NaN;
  if (!(ms > 0)) throw new SourceSettingsError(`${what} must be a duration such as 10s or 500ms, not ${JSON.stringify(value)}`);
  return ms;
}

/** A file a setting names (a CA, a client key), read now so that a wrong path is a settings
 * error at once rather than a failure of every read. */
export function readSettingFile(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new SourceSettingsError(`cannot read ${what} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Settings this source does not know are named in one warning (a typo falls back to the
 * environment otherwise), not refused: a Waypoint config may carry settings of features we do
 * not have (another auth method's), which Waypoint too ignores. */
export function warnUnknown(settings: Settings, known: readonly string[], type: string, logger: Logger): void {
  const unknown = Object.keys(settings).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    logger.warn(`the ${type} config source ignores ${unknown.join(', ')}: it reads ${known.join(', ')}`);
  }
}
