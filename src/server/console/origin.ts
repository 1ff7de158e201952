// Same-origin proof for writes and the WebSocket: a browser sends `Origin` with every
// cross-site request it makes, so an Origin that is not this very host (scheme http or https,
// same host and port as the request's Host) is another site's page. Pure.

/** What a browser sends as Origin: a scheme and an authority, nothing else. */
const ORIGIN = /^https?:\/\/[^/?#@\s]+$/i;

/** Whether `origin` (an Origin header) names the host the request was sent to. */
export function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host || !ORIGIN.test(origin) || /[/?#@\s]/.test(host)) return false;
  try {
    const o = new URL(origin);
    // The Host header read with the origin's scheme: default ports fall away on both sides.
    return o.host === new URL(`${o.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
