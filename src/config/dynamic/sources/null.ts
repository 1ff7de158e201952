// The `null` source: fixed values, for examples and tests, named as Waypoint's null config
// sourcer names them. A variable reads either its own `static_value`, or `config_key`: a key
// of the source's `values`. Waypoint's source settings are one flat string map, so `values`
// comes either as a JSON object (`values={"db":"x"}`) or as one setting per key
// (`values.db=x`; these win over the JSON ones).
import type { DynamicRequest, DynamicResult, SourceFactory } from '../source.js';
import { SourceSettingsError } from '../source.js';

const PREFIX = 'values.';

export const create: SourceFactory = (settings) => {
  const values = valuesOf(settings);
  return {
    read: async (requests) => requests.map((r) => readOne(r, values)),
    close: () => {},
  };
};

function valuesOf(settings: Readonly<Record<string, string>>): Map<string, string> {
  const values = new Map<string, string>();
  if (settings.values !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(settings.values);
    } catch {
      throw new SourceSettingsError('the null source\'s setting values is not a JSON object: give values={"KEY":"VALUE"} or values.KEY=VALUE');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new SourceSettingsError('the null source\'s setting values must be a JSON object of strings');
    }
    for (const [k, v] of Object.entries(parsed)) values.set(k, typeof v === 'string' ? v : JSON.stringify(v));
  }
  for (const [k, v] of Object.entries(settings)) if (k.startsWith(PREFIX) && k.length > PREFIX.length) values.set(k.slice(PREFIX.length), v);
  return values;
}

function readOne({ config }: DynamicRequest, values: ReadonlyMap<string, string>): DynamicResult {
  // As Waypoint's: a static value first (an empty one is no value), then a key of `values`.
  if (config.static_value) return { ok: true, value: config.static_value };
  const key = config.config_key;
  if (key) {
    const value = values.get(key);
    if (value === undefined) return { ok: false, failure: 'not-found', message: `the null source has no value for config_key ${JSON.stringify(key)}` };
    return { ok: true, value };
  }
  return { ok: false, failure: 'invalid', message: 'a null variable needs static_value or config_key' };
}
