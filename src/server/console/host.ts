// Which requests of the HTTP listener are the console's: those whose Host is the bare host
// (`localhost`, an IP literal, or exactly the URL domain), any port. `<app>.<domain>` stays the
// apps' ingress. Pure, so that the rule is read and tested without a server.
import { isIP } from 'node:net';

export function isConsoleHost(host: string | undefined, domain: string): boolean {
  if (!host) return false;
  const name = hostName(host.trim()).toLowerCase().replace(/\.$/, '');
  if (name === '') return false;
  if (name === 'localhost' || name === domain.toLowerCase().replace(/\.$/, '')) return true;
  return isIP(name.startsWith('[') && name.endsWith(']') ? name.slice(1, -1) : name) !== 0;
}

/** The Host header without its port (an IPv6 literal keeps its brackets). */
function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const i = host.lastIndexOf(':');
  return i >= 0 && /^\d*$/.test(host.slice(i + 1)) ? host.slice(0, i) : host;
}
