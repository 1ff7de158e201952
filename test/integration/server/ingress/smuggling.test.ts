// The URL ingress as a strict HTTP/1.1 front (C1, L5): request smuggling through it, end to end.
// A real server, a scripted entrypoint bridging its tunnel to a real Node HTTP app that records
// every request it parsed; raw bytes over TCP, so that nothing fixes the vectors up on the way.
//
// The vectors: the audit's own (smuggle.py, hijack.py: `Connection` naming Content-Length, Host),
// the classic desync families of James Kettle's "HTTP Desync Attacks" (PortSwigger, 2019: CL.TE,
// TE.CL, TE.TE obfuscations), the Transfer-Encoding gadget mutations of defparam/smuggler
// (configs/default.py: each control byte in each position of the header), and the framing cases
// of RFC 9112 sections 6 and 7 (duplicate and signed Content-Length, chunk-size syntax, bare LF,
// obs-fold, NUL). Whatever the ingress does with each (refuse it, or forward it), the app must
// never see more requests than the client sent, never a smuggled one, and the next user's
// request on the same pooled tunnel connection must reach it untouched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeEndpoint, serveTunnel, tunnelClient } from '../../../helpers/fake-tunnel-endpoint.js';
import { rawExchange } from '../../../helpers/raw-http.js';
import { type RecordingApp, startRecordingApp } from '../../../helpers/recording-app.js';
import { startServer, type TestServer } from '../../../helpers/server.js';
import { cleanUpUrlTest } from '../../../helpers/url-apps.js';

/** A request cut short: whatever follows it on a connection becomes its body (the hijack of C1). */
const PREFIX = 'POST /SMUGGLED HTTP/1.1\r\nHost: web.localhost\r\nContent-Length: 60\r\n\r\n';
const hex = (s: string) => s.length.toString(16);

let server: TestServer;
let app: RecordingApp;
let endpoint: FakeEndpoint;
let H: string;

beforeAll(async () => {
  // A short request timeout: a vector that desyncs the app must fail its check in time, not hang.
  server = await startServer({ args: ['--url-request-timeout', '3s'] });
  app = await startRecordingApp();
  const instance = await server.connectInstance('web');
  endpoint = await serveTunnel(tunnelClient(server.addr), instance, app.port);
  H = `web.localhost:${server.httpPort}`;
}, 30_000);

afterAll(cleanUpUrlTest);

interface Outcome {
  status: number;
  /** What the app parsed of the vector. */
  seen: RecordingApp['requests'];
}

let canaries = 0;

/**
 * Sends one vector, then an ordinary request with a session cookie on a new client connection
 * (the ingress hands it the pooled tunnel connection the vector used, when it kept one), and
 * checks what every vector must give: at most `requests` requests at the app, none smuggled,
 * the app's parser never fed garbage, and the canary whole.
 */
async function probe(raw: string, requests = 1): Promise<Outcome> {
  const before = app.requests.length;
  const answer = await rawExchange(server.httpPort!, raw, { responses: requests });
  const seen = app.requests.slice(before);
  const canary = `/canary-${++canaries}`;
  const c = await rawExchange(server.httpPort!, `POST ${canary} HTTP/1.1\r\nHost: ${H}\r\nCookie: session=VICTIM-SECRET\r\nContent-Length: 11\r\n\r\ncanary-body`);
  expect(c.status, `the request after the vector: ${c.text}`).toBe(200);
  const last = app.requests.at(-1)!;
  expect([last.method, last.url, last.body]).toEqual(['POST', canary, 'canary-body']);
  expect(last.headers).toContain('session=VICTIM-SECRET');
  expect(app.requests.slice(before).filter((r) => r.url !== canary)).toEqual(seen); // nothing more arrived later
  expect(seen.length).toBeLessThanOrEqual(requests);
  expect(app.requests.filter((r) => /SMUGGLED/.test(r.url))).toEqual([]);
  // A body cut short (the ingress refused the rest of it) is no garbage; anything else is.
  expect(app.parseErrors.filter((e) => e !== 'HPE_INVALID_EOF_STATE')).toEqual([]);
  // Refused or answered: nothing of the vector is left waiting at the app.
  if (seen.length === 0) expect(answer.status === 0 || answer.status >= 400, answer.text).toBe(true);
  else expect(answer.status, answer.text).toBe(200);
  return { status: answer.status, seen };
}

const head = (method: string, headers: string[]) => `${method} /v HTTP/1.1\r\nHost: ${H}\r\n${headers.map((h) => `${h}\r\n`).join('')}\r\n`;

describe('C1: framing headers named in Connection (the audit\'s smuggle.py and hijack.py)', () => {
  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS']) {
    it(`C1: a ${method} whose Content-Length is named in Connection reaches the app as one request, and the next user's request is untouched`, async () => {
      const opened = endpoint.opened;
      const { seen } = await probe(head(method, ['Connection: keep-alive, content-length', `Content-Length: ${PREFIX.length}`]) + PREFIX);
      expect(seen.map((r) => [r.method, r.url, r.body])).toEqual([[method, '/v', PREFIX]]);
      // The victim's request went on the very tunnel connection the attacker's request used.
      expect(endpoint.opened - opened).toBeLessThanOrEqual(1);
    });
  }

  it('C1: a full second request in such a body is never a request of its own', async () => {
    const inner = `GET /SMUGGLED HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n`;
    const { seen } = await probe(head('GET', ['Connection: content-length', `Content-Length: ${inner.length}`]) + inner);
    expect(seen.map((r) => [r.url, r.body])).toEqual([['/v', inner]]);
  });

  it('C1: a chunked body whose Transfer-Encoding is named in Connection stays chunked', async () => {
    const { seen } = await probe(head('POST', ['Connection: transfer-encoding', 'Transfer-Encoding: chunked']) + `${hex(PREFIX)}\r\n${PREFIX}\r\n0\r\n\r\n`);
    expect(seen.map((r) => r.body)).toEqual([PREFIX]);
  });
});

describe('L5: one Host, origin-form targets', () => {
  it('L5: Connection: host does not take Host away', async () => {
    const { seen } = await probe(head('GET', ['Connection: host']));
    expect(seen[0].headers.filter((_, i, a) => i % 2 === 1 && a[i - 1].toLowerCase() === 'host')).toEqual([H]);
  });

  it('L5: a duplicate Host is refused with 400, the same twice included', async () => {
    for (const second of ['other.localhost', H]) {
      const { status, seen } = await probe(`GET /v HTTP/1.1\r\nHost: ${H}\r\nHost: ${second}\r\n\r\n`);
      expect([status, seen]).toEqual([400, []]);
    }
  });

  it('L5: an absolute-form target is routed by its authority and forwarded in origin form, with that authority as Host', async () => {
    const { seen } = await probe(`GET http://${H}/abs?q=1 HTTP/1.1\r\nHost: other.localhost\r\n\r\n`);
    expect(seen.map((r) => r.url)).toEqual(['/abs?q=1']);
    expect(seen[0].headers.filter((_, i, a) => i % 2 === 1 && a[i - 1].toLowerCase() === 'host')).toEqual([H]);
    const elsewhere = await probe(`GET http://nope.localhost:${server.httpPort}/abs HTTP/1.1\r\nHost: ${H}\r\n\r\n`);
    expect([elsewhere.status, elsewhere.seen]).toEqual([404, []]);
    for (const target of [`https://${H}/`, `http://user@${H}/`, `http:///x`, H]) {
      const refused = await probe(`GET ${target} HTTP/1.1\r\nHost: ${H}\r\n\r\n`);
      expect([target, refused.status, refused.seen]).toEqual([target, 400, []]);
    }
  });

  it('answers 431 to a request head over 16 KiB, 501 to a transfer coding other than chunked', async () => {
    expect((await probe(head('GET', [`X-Big: ${'a'.repeat(20_000)}`]))).status).toBe(431);
    expect((await probe(head('POST', ['Transfer-Encoding: gzip, chunked']) + '0\r\n\r\n')).status).toBe(501);
  });
});

/** Classic vectors, by family: [name, raw request, requests the client meant]. */
function classicVectors(): [string, string, number?][] {
  const clte = `0\r\n\r\n${PREFIX}`;
  const tecl = `${hex(PREFIX)}\r\n${PREFIX}\r\n0\r\n\r\n`;
  const teObfuscations = ['xchunked', 'chunked, identity', 'identity, chunked', '"chunked"', 'chunked\r\nTransfer-Encoding: x', 'x\r\nTransfer-Encoding: chunked',
    'Chunked', 'chunked ', ' chunked', 'chunk', 'chunked;q=1', '\tchunked', 'chu\0nked'];
  const v: [string, string, number?][] = [
    ['CL.TE', head('POST', [`Content-Length: ${clte.length}`, 'Transfer-Encoding: chunked']) + clte],
    ['TE.CL', head('POST', ['Content-Length: 4', 'Transfer-Encoding: chunked']) + tecl],
    ['TE first, CL after', head('POST', ['Transfer-Encoding: chunked', `Content-Length: ${clte.length}`]) + clte],
    ...teObfuscations.map((te): [string, string] => [`TE.TE ${JSON.stringify(te)}`, head('POST', [`Content-Length: ${clte.length}`, `Transfer-Encoding: ${te}`]) + clte]),
    ...teObfuscations.map((te): [string, string] => [`TE only ${JSON.stringify(te)}`, head('POST', [`Transfer-Encoding: ${te}`]) + tecl]),
    ['duplicate CL, same', head('POST', [`Content-Length: ${PREFIX.length}`, `Content-Length: ${PREFIX.length}`]) + PREFIX],
    ['duplicate CL, different', head('POST', ['Content-Length: 0', `Content-Length: ${PREFIX.length}`]) + PREFIX],
    ['CL list', head('POST', [`Content-Length: ${PREFIX.length}, ${PREFIX.length}`]) + PREFIX],
    ...['+', '-', '0x', ' ', '\t', '00'].map((sign): [string, string] => [`CL ${JSON.stringify(sign)} prefix`, head('POST', [`Content-Length: ${sign}${PREFIX.length}`]) + PREFIX]),
    ['CL with inner space', head('POST', [`Content-Length: 1 ${PREFIX.length}`]) + PREFIX],
    ['CL trailing garbage', head('POST', [`Content-Length: ${PREFIX.length}x`]) + PREFIX],
    ['CL negative', head('POST', ['Content-Length: -1']) + PREFIX],
    ['CL huge', head('POST', ['Content-Length: 99999999999999999999']) + PREFIX],
    ['space before colon, CL', head('POST', [`Content-Length : ${PREFIX.length}`]) + PREFIX],
    ['space before colon, TE', head('POST', [`Content-Length: ${clte.length}`, 'Transfer-Encoding : chunked']) + clte],
    ['chunk extension', head('POST', ['Transfer-Encoding: chunked']) + `${hex(PREFIX)};ext=1\r\n${PREFIX}\r\n0\r\n\r\n`],
    ...['0x', '+', ' ', '-'].map((sign): [string, string] => [`chunk size ${JSON.stringify(sign)} prefix`, head('POST', ['Transfer-Encoding: chunked']) + `${sign}${hex(PREFIX)}\r\n${PREFIX}\r\n0\r\n\r\n`]),
    ['chunk size trailing space', head('POST', ['Transfer-Encoding: chunked']) + `${hex(PREFIX)} \r\n${PREFIX}\r\n0\r\n\r\n`],
    ['chunk size overflow', head('POST', ['Transfer-Encoding: chunked']) + `FFFFFFFFFFFFFFFFF1\r\n${PREFIX}\r\n0\r\n\r\n`],
    ['chunk data LF only', head('POST', ['Transfer-Encoding: chunked']) + `${hex(PREFIX)}\n${PREFIX}\n0\n\n`],
    ['chunk data unterminated', head('POST', ['Transfer-Encoding: chunked']) + `${hex(PREFIX)}\r\n${PREFIX}0\r\n\r\n`],
    ['chunk shorter than said', head('POST', ['Transfer-Encoding: chunked']) + `5\r\n${PREFIX}\r\n0\r\n\r\n`],
    ['trailer after last chunk', head('POST', ['Transfer-Encoding: chunked']) + `0\r\nTransfer-Encoding: x\r\nContent-Length: 5\r\n\r\n${PREFIX}`],
    ['bare LF request', `GET /v HTTP/1.1\nHost: ${H}\nContent-Length: ${PREFIX.length}\n\n${PREFIX}`],
    ['bare LF before TE', `POST /v HTTP/1.1\r\nHost: ${H}\r\nContent-Length: ${clte.length}\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n${clte}`],
    ['bare CR before TE', `POST /v HTTP/1.1\r\nHost: ${H}\r\nContent-Length: ${clte.length}\r\nX: a\rTransfer-Encoding: chunked\r\n\r\n${clte}`],
    ['obs-fold TE', head('POST', [`Content-Length: ${clte.length}`, 'Transfer-Encoding:', ' chunked']) + clte],
    ['obs-fold hiding TE', head('POST', [`Content-Length: ${clte.length}`, 'X: a', ' Transfer-Encoding: chunked']) + clte],
    ['obs-fold CL', head('POST', ['Content-Length:', ` ${PREFIX.length}`]) + PREFIX],
    ['NUL in a value', head('GET', ['X: a\0b'])],
    ['NUL in a name', head('GET', ['X\0Y: a'])],
    ['NUL after CL', head('POST', [`Content-Length: ${PREFIX.length}\0`]) + PREFIX],
    ['NUL in the target', `GET /v\0/SMUGGLED HTTP/1.1\r\nHost: ${H}\r\n\r\n`],
    ['HTTP/1.0 with TE and CL', `POST /v HTTP/1.0\r\nHost: ${H}\r\nContent-Length: ${clte.length}\r\nTransfer-Encoding: chunked\r\n\r\n${clte}`],
    ['Connection: content-length on a POST', head('POST', ['Connection: content-length', `Content-Length: ${PREFIX.length}`]) + PREFIX],
    ['Connection: transfer-encoding, CL.TE', head('POST', ['Connection: transfer-encoding', `Content-Length: ${clte.length}`, 'Transfer-Encoding: chunked']) + clte],
    ['Connection: host, absolute-form', `GET http://${H}/v HTTP/1.1\r\nHost: other.localhost\r\nConnection: host\r\n\r\n`],
    ['duplicate Host, different case', `GET /v HTTP/1.1\r\nHost: ${H}\r\nhOST: other.localhost\r\n\r\n`],
    ['Host with a space before the colon', `GET /v HTTP/1.1\r\nHost : other.localhost\r\nHost: ${H}\r\n\r\n`],
    ['two requests pipelined', `GET /v HTTP/1.1\r\nHost: ${H}\r\n\r\nGET /v2 HTTP/1.1\r\nHost: ${H}\r\n\r\n`, 2],
    ['Expect with a smuggled body', head('GET', ['Expect: 100-continue', 'Connection: content-length', `Content-Length: ${PREFIX.length}`]) + PREFIX],
  ];
  return v;
}

/** defparam/smuggler's Transfer-Encoding gadgets: each byte in each position, as CL.TE and TE.CL probes. */
function smugglerGadgets(): [string, string][] {
  const bytes = [0x01, 0x04, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1f, 0x20, 0x7f, 0xa0, 0xff];
  const gadgets: [string, string][] = [
    ['nameprefix1', ' Transfer-Encoding: chunked'],
    ['tabprefix1', 'Transfer-Encoding:\tchunked'],
    ['tabprefix2', 'Transfer-Encoding\t:\tchunked'],
    ['space1', 'Transfer-Encoding : chunked'],
  ];
  for (const b of bytes) {
    const c = String.fromCharCode(b);
    const x = b.toString(16).padStart(2, '0');
    gadgets.push(
      [`midspace-${x}`, `Transfer-Encoding:${c}chunked`],
      [`postspace-${x}`, `Transfer-Encoding${c}: chunked`],
      [`prespace-${x}`, `${c}Transfer-Encoding: chunked`],
      [`endspace-${x}`, `Transfer-Encoding: chunked${c}`],
      [`xprespace-${x}`, `X: X${c}Transfer-Encoding: chunked`],
      [`endspacex-${x}`, `Transfer-Encoding: chunked${c}X: X`],
      [`rxprespace-${x}`, `X: X\r${c}Transfer-Encoding: chunked`],
      [`xnprespace-${x}`, `X: X${c}\nTransfer-Encoding: chunked`],
      [`endspacerx-${x}`, `Transfer-Encoding: chunked\r${c}X: X`],
      [`endspacexn-${x}`, `Transfer-Encoding: chunked${c}\nX: X`],
    );
  }
  const clte = `0\r\n\r\n${PREFIX}`;
  const tecl = `${hex(PREFIX)}\r\n${PREFIX}\r\n0\r\n\r\n`;
  return gadgets.flatMap(([name, gadget]): [string, string][] => [
    [`${name} CL.TE`, `POST /v HTTP/1.1\r\n${gadget}\r\nHost: ${H}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${clte.length}\r\n\r\n${clte}`],
    [`${name} TE.CL`, `POST /v HTTP/1.1\r\n${gadget}\r\nHost: ${H}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 4\r\n\r\n${tecl}`],
  ]);
}

describe('C1: a table of smuggling vectors, each raw over TCP', () => {
  it('C1: classic vectors: never more requests at the app than sent, never a smuggled one, the next request untouched', async () => {
    let forwarded = 0;
    for (const [name, raw, requests] of classicVectors()) {
      const { seen } = await probe(raw, requests).catch((err: Error) => {
        throw new Error(`vector ${name}: ${err.message}`);
      });
      forwarded += seen.length;
    }
    expect(forwarded).toBeGreaterThan(5); // the valid ones did go through
  }, 120_000);

  it('C1: defparam/smuggler\'s 134 Transfer-Encoding gadgets, as CL.TE and TE.CL probes', async () => {
    const vectors = smugglerGadgets();
    expect(vectors).toHaveLength(268);
    for (const [name, raw] of vectors) {
      await probe(raw).catch((err: Error) => {
        throw new Error(`vector ${name}: ${err.message}`);
      });
    }
  }, 180_000);
});
