// Which app a request is for, from its Host header: `<app>.<domain>` (the app's newest
// deployment with a live tunnel) or `<app>--<deployment-id>.<domain>` (that deployment).
// Host names are case-insensitive and the port is ignored.

export type HostTarget = { app: string; deploymentId?: string };

/** A ULID, as our deployment ids are: 26 characters of Crockford's base32. */
const DEPLOYMENT_SUFFIX = /^(.+)--([0-9a-hjkmnp-tv-z]{26})$/;

/** The target of a Host header, or undefined when it is not a name under `domain`. */
export function parseHost(host: string | undefined, domain: string): HostTarget | undefined {
  if (!host) return undefined;
  const name = stripPort(host.trim()).toLowerCase().replace(/\.$/, '');
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const label = name.slice(0, -suffix.length);
  if (!label) return undefined;
  const m = DEPLOYMENT_SUFFIX.exec(label);
  if (m) return { app: m[1], deploymentId: m[2].toUpperCase() };
  return { app: label };
}

function stripPort(host: string): string {
  if (host.startsWith('[')) return host; // an IPv6 literal: never one of our names
  const i = host.lastIndexOf(':');
  return i >= 0 && /^\d*$/.test(host.slice(i + 1)) ? host.slice(0, i) : host;
}
