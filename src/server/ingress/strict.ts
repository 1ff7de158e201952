// What the ingress accepts of a request Node's parser let through, as a strict HTTP/1.1 front:
// exactly one Host; an origin-form target, `*` (OPTIONS), or an absolute-form `http://` target,
// which is routed by its authority and forwarded in origin form with that authority as Host
// (RFC 9112 3.2.2: a server must accept absolute-form and then ignore Host; refusing it would
// break clients that talk to us as to a proxy, and passing it on as is would let the app route
// by a host we did not); a body framed by Content-Length or by chunked alone (the app's leg then
// gets the same framing, set by us). Everything else is answered with one line and no request
// reaches the app.
import type { IncomingMessage } from 'node:http';
import type { Framing } from './headers.js';
import type { Failure } from './proxy.js';

export type CheckedRequest = { ok: true; host: string; path: string; framing: Framing } | { ok: false; failure: Failure };

/** The connection goes after such an answer: what follows on it cannot be trusted to be framed as we think. */
const refusal = (status: number, message: string): Failure => ({ status, message, headers: { Connection: 'close' } });
const refuse = (status: number, message: string): { ok: false; failure: Failure } => ({ ok: false, failure: refusal(status, message) });

export function checkRequest(req: IncomingMessage): CheckedRequest {
  const hosts = valuesOf(req.rawHeaders, 'host');
  if (hosts.length > 1) return refuse(400, 'bad request: more than one Host header');
  const target = requestTarget(req.method ?? 'GET', req.url ?? '', hosts[0] ?? '');
  if (!target.ok) return target;
  const framing = framingOf(req);
  if ('failure' in framing) return { ok: false, failure: framing.failure };
  return { ...target, framing };
}

type Target = { ok: true; host: string; path: string } | { ok: false; failure: Failure };

function requestTarget(method: string, url: string, host: string): Target {
  if (url.startsWith('/')) return { ok: true, host, path: url };
  if (url === '*') return method === 'OPTIONS' ? { ok: true, host, path: url } : refuse(400, 'bad request: the target * is for OPTIONS only');
  const m = /^([a-z][a-z0-9+.-]*):\/\/([^/?#]*)([^#]*)$/i.exec(url);
  if (!m) return refuse(400, 'bad request: the target must be a path (or an absolute http:// URL)');
  const [, scheme, authority, rest] = m;
  if (scheme.toLowerCase() !== 'http') return refuse(400, `bad request: only http:// absolute targets are served here, not ${scheme}://`);
  if (!authority || authority.includes('@')) return refuse(400, 'bad request: an absolute target needs a host and no user info');
  return { ok: true, host: authority, path: rest.startsWith('/') ? rest : `/${rest}` };
}

function framingOf(req: IncomingMessage): Framing | { failure: Failure } {
  const te = valuesOf(req.rawHeaders, 'transfer-encoding');
  const cl = valuesOf(req.rawHeaders, 'content-length');
  // Node's parser refuses both together, and conflicting lengths; kept here so that this file alone says the rule.
  if (te.length > 0 && cl.length > 0) return { failure: refusal(400, 'bad request: Content-Length and Transfer-Encoding together') };
  if (te.length > 0) {
    const codings = te.join(',').split(',').map((c) => c.trim().toLowerCase());
    // Any other coding would reach the app still encoded but announced as plain chunked.
    if (codings.length !== 1 || codings[0] !== 'chunked') {
      return { failure: refusal(501, `transfer coding ${JSON.stringify(te.join(', '))} is not supported: only chunked`) };
    }
    return { kind: 'chunked' };
  }
  if (cl.length === 0) return { kind: 'none' };
  const lengths = new Set(cl.join(',').split(',').map((v) => v.trim()));
  const [length] = [...lengths];
  if (lengths.size !== 1 || !/^\d{1,15}$/.test(length)) return { failure: refusal(400, 'bad request: invalid Content-Length') };
  return { kind: 'length', length: Number(length) };
}

/** Every value of a header (lower case name) in a raw list. */
function valuesOf(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) out.push(raw[i + 1]);
  return out;
}
