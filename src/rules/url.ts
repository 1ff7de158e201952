// The URL service's flags as the operator gives them: the domain of app URLs and the trusted
// proxies. The ctl checks them before starting a server (a usage error); the server's ingress
// builds on the same parse.
import { isIP } from 'node:net';

/** A --url-domain: a DNS name such as localhost or apps.example.com. */
export function domainProblem(domain: string): string | undefined {
  const label = '[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?';
  if (new RegExp(`^${label}(\\.${label})*$`, 'i').test(domain) && domain.length <= 200) return undefined;
  return `invalid URL domain ${JSON.stringify(domain)}: expected a DNS name such as localhost or apps.example.com`;
}

export class TrustedProxyError extends Error {}

/** A comma-separated list of CIDRs or single addresses; throws TrustedProxyError with what to fix. */
export function parseTrustedProxies(spec: string | undefined): string[] {
  if (spec === undefined || spec.trim() === '') return [];
  const cidrs = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of cidrs) parseCidr(c);
  return cidrs;
}

export function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefixText, extra] = cidr.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new TrustedProxyError(`invalid trusted proxy ${JSON.stringify(cidr)}: expected an address or CIDR such as 10.0.0.0/8 or fd00::/8`);
  }
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}
