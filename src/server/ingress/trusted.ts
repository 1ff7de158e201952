// `--trusted-proxy CIDR[,…]`: the peers (a load balancer in front of the ingress) whose
// X-Forwarded-* headers are kept and appended to, and who are not held to the per-client
// connection limit (every user behind them shares their address). Default: none.
import { BlockList, isIP } from 'node:net';
import { parseCidr } from '../../rules/url.js';

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
