// What a dynamic config var and a config source may be (issue 15), shared by the server (the
// rule) and the ctl (a usage error before any call); and which of a source's settings are
// secrets, printed back masked and never logged.

/** The source types our entrypoint reads (src/config/dynamic/registry.ts loads each). */
export const DYNAMIC_SOURCE_TYPES: readonly string[] = ['null', 'vault', 'kubernetes', 'consul', 'aws-ssm'];

const MAX_SETTINGS = 64;
const MAX_SETTING_KEY = 256;
const MAX_SETTING_VALUE = 64 * 1024;

export function sourceTypeProblem(type: string): string | undefined {
  if (DYNAMIC_SOURCE_TYPES.includes(type)) return undefined;
  return `unknown config source type ${JSON.stringify(type)}: one of ${DYNAMIC_SOURCE_TYPES.join(', ')}`;
}

/** Settings of a source, or a dynamic var's own config: a flat map of strings. */
export function settingsProblem(settings: Readonly<Record<string, string>>, what: string): string | undefined {
  const entries = Object.entries(settings);
  if (entries.length > MAX_SETTINGS) return `${what}: too many settings (${entries.length}), at most ${MAX_SETTINGS}`;
  for (const [key, value] of entries) {
    if (key === '' || key.length > MAX_SETTING_KEY || /[\0=\s]/.test(key)) return `${what}: invalid setting name ${JSON.stringify(key.slice(0, 40))}`;
    if (typeof value !== 'string') return `${what}: the setting ${key} must be text`;
    if (Buffer.byteLength(value) > MAX_SETTING_VALUE) return `${what}: the setting ${key} is over ${MAX_SETTING_VALUE} bytes`;
    if (value.includes('\0')) return `${what}: the setting ${key} contains a NUL byte`;
  }
  return undefined;
}

/** Setting names that hold a secret: Vault's token and AppRole secret_id, AWS keys, passwords,
 * Consul's http_auth (`user:password`)... */
const SECRET_KEY = /token|secret|password|passwd|credential|private|api[_-]?key|access[_-]?key|session|(^|_)auth$/i;

export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key);
}

/** A secret as printed back: its first 4 characters and '…' (only '…' for a short one). */
export function maskSecret(value: string): string {
  const chars = [...value];
  return chars.length >= 12 ? `${chars.slice(0, 4).join('')}…` : '…';
}

/** Settings with every secret masked. */
export function maskSettings(settings: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, isSecretKey(k) ? maskSecret(v) : v]));
}
