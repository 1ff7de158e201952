// `${config.internal.NAME}` inside a config value: replaced by that internal var's value. Internal
// vars exist for this (a password inside a URL, say) and never reach the app themselves. `$${`
// is a literal `${`, as in Waypoint's HCL templates.

const REFERENCE = /\$(\$?)\{\s*config\.internal\.([A-Za-z0-9_.-]+)\s*\}/g;

export interface Interpolated {
  value: string;
  /** Names referenced that are not internal vars (each replaced by an empty string). */
  unknown: string[];
}

export function interpolate(value: string, internal: ReadonlyMap<string, string>): Interpolated {
  const unknown: string[] = [];
  if (!value.includes('${')) return { value, unknown };
  const out = value.replace(REFERENCE, (whole: string, escaped: string, name: string) => {
    if (escaped) return whole.slice(1); // `$${...}`: the text itself, one `$` less
    const found = internal.get(name);
    if (found === undefined) {
      unknown.push(name);
      return '';
    }
    return found;
  });
  return { value: out, unknown };
}
