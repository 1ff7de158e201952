// `--trusted-proxy CIDR[,…]`: the peers (a load balancer in front of the ingress) whose
// X-Forwarded-* headers are kept and appended to, and who are not held to the per-client
// connection limit (every user behind them shares their address). Default: none.
import { BlockList, isIP } from 'node:net';

export class TrustedProxyError extends Error {}

export class TrustedProxies {
  private readonly list = new BlockList();

  /** The CIDRs as given (for the log), or none. */
  constructor(readonly cidrs: readonly string[] = []) {
    for (const cidr of cidrs) {
      const { address, prefix, family } = parseCidr(cidr);
      this.list.addSubnet(address, prefix, family);
    }
  }

  /** Whether a peer address (as a socket reports it) is one of them. */
  has(address: string | undefined): boolean {
    if (!address || this.cidrs.length === 0) return false;
    const plain = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
    const family = isIP(plain);
    if (family === 0) return false;
    return this.list.check(plain, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** A comma-separated list of CIDRs or single addresses; throws TrustedProxyError with what to fix. */
export function parseTrustedProxies(spec: string | undefined): string[] {
  if (spec === undefined || spec.trim() === '') return [];
  const cidrs = spec.split(',').map((s) => s.trim()).filter(Boolean);
  for (const c of cidrs) parseCidr(c);
  return cidrs;
}

function parseCidr(cidr: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } {
  const [address, prefixText, extra] = cidr.split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
    throw new TrustedProxyError(`invalid trusted proxy ${JSON.stringify(cidr)}: expected an address or CIDR such as 10.0.0.0/8 or fd00::/8`);
  }
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}
