// The URL service's pure parts (config → target, the app's port, refusal classification, the
// warning rate, data chunks) and its registration logic against a recording fake client: which
// Register calls are made, cancelled or retried as configs and sessions come and go.
import { EventEmitter } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { recordingLogger, sessionOn } from '../../helpers/fake-session.js';
import { protocol } from '../../../src/protocol/load.js';
import type { TunnelDefinition } from '../../../src/protocol/generated/waypoint_entrypoint/tunnel/v1/Tunnel.js';
import { appPort, registerEnd, ReportLimiter, urlTarget } from '../../../src/url/rules.js';
import { UrlService } from '../../../src/url/tunnel.js';
import { DATA_HEADROOM, encodeData, encodeDataInPlace, MAX_DATA_CHUNK, splitChunks } from '../../../src/url/wire.js';
import { frameInPlace } from '../../../src/protocol/framed-sends.js';

const service = (control_addr: string, token: string) => ({ url_service: { control_addr, token, labels: '' } });

describe('urlTarget', () => {
  it('no url_service: nothing to do', () => {
    expect(urlTarget({ url_service: null })).toEqual({ kind: 'none' });
  });
  it('an empty control_addr with a token: register with our server', () => {
    expect(urlTarget(service('', 'T1'))).toEqual({ kind: 'register', token: 'T1' });
  });
  it('a control_addr elsewhere: unsupported, whatever the token', () => {
    expect(urlTarget(service('waypoint.example:443', 'T1'))).toEqual({ kind: 'unsupported', addr: 'waypoint.example:443' });
    expect(urlTarget(service(' h:1 ', ''))).toEqual({ kind: 'unsupported', addr: 'h:1' });
  });
  it('our server without a token: nothing to ask', () => {
    expect(urlTarget(service('', ''))).toEqual({ kind: 'none' });
  });
});

describe('appPort', () => {
  it("the app env's PORT when valid, else ours", () => {
    expect(appPort({ PORT: '8080' }, 5000)).toBe(8080);
    expect(appPort({}, 5000)).toBe(5000);
    for (const bad of ['', 'abc', '0', '65536', '-1', '80x', '1.5']) expect(appPort({ PORT: bad }, 5000)).toBe(5000);
  });
});

describe('registerEnd', () => {
  it('PERMISSION_DENIED, UNIMPLEMENTED, UNAUTHENTICATED are refusals; the rest are retried', () => {
    expect([7, 12, 16].map(registerEnd)).toEqual(['refused', 'refused', 'refused']);
    expect([0, 1, 2, 4, 13, 14].map(registerEnd)).toEqual(['retry', 'retry', 'retry', 'retry', 'retry', 'retry']);
  });
});

describe('ReportLimiter', () => {
  it('reports the first event, then at most once per period with the count since', () => {
    let now = 0;
    const limiter = new ReportLimiter(60_000, () => now);
    expect(limiter.record()).toBe(1);
    now = 1_000;
    expect(limiter.record()).toBe(0);
    expect(limiter.record()).toBe(0);
    now = 59_999;
    expect(limiter.record()).toBe(0);
    now = 60_000;
    expect(limiter.record()).toBe(4);
    now = 200_000;
    expect(limiter.record()).toBe(1);
  });
});

describe('data messages', () => {
  const decode = (protocol().waypoint_entrypoint.tunnel.v1.Tunnel.service as unknown as TunnelDefinition).Connect.requestDeserialize;

  it('splits into views of at most MAX_DATA_CHUNK, in order, without copying', () => {
    const data = Buffer.alloc(MAX_DATA_CHUNK * 2 + 5, 7);
    const pieces = splitChunks(data);
    expect(pieces.map((p) => p.length)).toEqual([MAX_DATA_CHUNK, MAX_DATA_CHUNK, 5]);
    expect(pieces[1].buffer).toBe(data.buffer);
    expect(splitChunks(Buffer.from('x'))).toHaveLength(1);
  });

  it('encodes ConnectRequest{data} as protobufjs decodes it, for every length class', () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, MAX_DATA_CHUNK]) {
      const data = Buffer.alloc(n);
      for (let i = 0; i < n; i++) data[i] = (i * 31) & 0xff;
      const decoded = decode(encodeData(data));
      expect(decoded.event).toBe('data');
      expect(Buffer.from(decoded.data!).equals(data)).toBe(true);
    }
  });

  it('encodes in place: the header in the room before the data, the same bytes as encodeData, the frame in front of it', () => {
    for (const n of [0, 1, 127, 128, 16_383, 16_384, MAX_DATA_CHUNK]) {
      const slab = Buffer.alloc(64 + DATA_HEADROOM + n + 64, 0xee);
      const data = slab.subarray(64 + DATA_HEADROOM, 64 + DATA_HEADROOM + n);
      for (let i = 0; i < n; i++) data[i] = (i * 31) & 0xff;
      const copy = Buffer.from(data);
      const message = encodeDataInPlace(data);
      expect(message.equals(encodeData(copy))).toBe(true);
      expect(message.buffer).toBe(slab.buffer);
      expect(message.byteOffset + message.length).toBe(data.byteOffset + data.length);
      const frame = frameInPlace(message)!;
      expect(frame.readUInt32BE(1)).toBe(message.length);
      expect(frame[0]).toBe(0);
      expect(frame.byteOffset).toBeGreaterThanOrEqual(64);
      // Nothing before the room is touched, nor the data.
      expect(slab.subarray(0, frame.byteOffset).every((b) => b === 0xee)).toBe(true);
      expect(slab.subarray(64 + DATA_HEADROOM + n).every((b) => b === 0xee)).toBe(true);
      expect(data.equals(copy)).toBe(true);
    }
  });
});

/** A Register call as the fake client hands it out. */
class FakeCall extends EventEmitter {
  cancelled = false;
  constructor(readonly request: { instance_id: string; token: string; port: number }) {
    super();
  }
  cancel() {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('status', { code: 1, details: 'Cancelled on client', metadata: {} });
  }
  end(code: number, details = '') {
    this.emit('status', { code, details, metadata: {} });
  }
}

function fakeSession() {
  const calls: FakeCall[] = [];
  const client = {
    makeServerStreamRequest: (path: string, _s: unknown, _d: unknown, request: FakeCall['request']) => {
      expect(path).toBe('/waypoint_entrypoint.tunnel.v1.Tunnel/Register');
      const call = new FakeCall(request);
      calls.push(call);
      return call;
    },
  };
  return { ...sessionOn(client), calls };
}

function urlService() {
  const { logger, records } = recordingLogger();
  const url = new UrlService({ instanceId: 'I1', logger, port: () => 5123, random: () => 0 });
  const warnings = () => records.filter((r) => r.level === 'warn').map((r) => r.message);
  return { url, records, warnings };
}

describe('UrlService registration', () => {
  afterEach(() => vi.useRealTimers());

  it('registers once a session and a config with our URL service are both there, with id, token and port', () => {
    const { url } = urlService();
    const s = fakeSession();
    url.applyConfig(service('', 'T1'));
    expect(s.calls).toHaveLength(0);
    url.attach(s.session);
    expect(s.calls.map((c) => c.request)).toEqual([{ instance_id: 'I1', token: 'T1', port: 5123 }]);
    // The same config again (the server re-sends it): no new registration.
    url.applyConfig(service('', 'T1'));
    expect(s.calls).toHaveLength(1);
    expect(url.registered).toBe(true);
  });

  it('a new token re-registers; a removed url_service cancels; it comes back', () => {
    const { url } = urlService();
    const s = fakeSession();
    url.attach(s.session);
    url.applyConfig(service('', 'T1'));
    url.applyConfig(service('', 'T2'));
    expect(s.calls.map((c) => [c.request.token, c.cancelled])).toEqual([
      ['T1', true],
      ['T2', false],
    ]);
    url.applyConfig({ url_service: null });
    expect(s.calls[1].cancelled).toBe(true);
    expect(url.registered).toBe(false);
    url.applyConfig(service('', 'T2'));
    expect(s.calls).toHaveLength(3);
  });

  it('a control_addr elsewhere: one warning per address, no registration, and an existing one withdrawn', () => {
    const { url, warnings } = urlService();
    const s = fakeSession();
    url.attach(s.session);
    url.applyConfig(service('', 'T1'));
    for (let i = 0; i < 3; i++) url.applyConfig(service('horizon.example:443', 'T1'));
    url.applyConfig(service('other:1', 'T1'));
    expect(s.calls).toHaveLength(1);
    expect(s.calls[0].cancelled).toBe(true);
    expect(warnings()).toEqual([
      "URL service at horizon.example:443 is not supported (only this server's own tunnel); ignored",
      "URL service at other:1 is not supported (only this server's own tunnel); ignored",
    ]);
  });

  it('a refusal is not retried until the config or the session changes; one warning', () => {
    const { url, warnings } = urlService();
    const s = fakeSession();
    url.attach(s.session);
    url.applyConfig(service('', 'T1'));
    s.calls[0].end(12, 'unknown service waypoint_entrypoint.tunnel.v1.Tunnel');
    url.applyConfig(service('', 'T1'));
    expect(s.calls).toHaveLength(1);
    expect(warnings()).toHaveLength(1);
    url.applyConfig(service('', 'T2'));
    expect(s.calls).toHaveLength(2);
    s.calls[1].end(12, 'unknown service waypoint_entrypoint.tunnel.v1.Tunnel');
    const next = fakeSession();
    url.attach(next.session);
    expect(next.calls).toHaveLength(1);
    next.calls[0].end(12, 'unknown service waypoint_entrypoint.tunnel.v1.Tunnel');
    expect(warnings()).toHaveLength(1); // the same refusal is said once
  });

  it('a broken stream is retried with backoff while the session lives', () => {
    vi.useFakeTimers();
    const { url, warnings } = urlService();
    const s = fakeSession();
    url.attach(s.session);
    url.applyConfig(service('', 'T1'));
    s.calls[0].end(13, 'internal');
    expect(s.calls).toHaveLength(1);
    vi.advanceTimersByTime(500); // RECONNECT_POLICY's first step (random 0: no jitter)
    expect(s.calls).toHaveLength(2);
    s.calls[1].end(14, 'gone');
    vi.advanceTimersByTime(999);
    expect(s.calls).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(s.calls).toHaveLength(3);
    expect(warnings()).toEqual(['URL service registration ended; registering again']);
    // The session ends while a retry waits: nothing more on it.
    s.calls[2].end(14, 'gone');
    s.end();
    vi.advanceTimersByTime(60_000);
    expect(s.calls).toHaveLength(3);
    expect(warnings()).toHaveLength(1);
  });

  it('a stream cut by a server going away, with the session right after: no warning of ours', () => {
    vi.useFakeTimers();
    const { url, warnings } = urlService();
    const s = fakeSession();
    url.attach(s.session);
    url.applyConfig(service('', 'T1'));
    s.calls[0].end(14, 'the server is shutting down');
    s.end();
    vi.advanceTimersByTime(60_000);
    expect(s.calls).toHaveLength(1);
    expect(warnings()).toEqual([]);
  });

  it('a lost session drops the registration; the next session registers from the latest config', () => {
    const { url } = urlService();
    const first = fakeSession();
    url.attach(first.session);
    url.applyConfig(service('', 'T1'));
    first.end();
    expect(first.calls[0].cancelled).toBe(true);
    url.applyConfig(service('', 'T3')); // arrives between sessions
    expect(first.calls).toHaveLength(1);
    const second = fakeSession();
    url.attach(second.session);
    expect(second.calls.map((c) => c.request.token)).toEqual(['T3']);
  });

  it('close withdraws and never registers again', () => {
    const { url } = urlService();
    const s = fakeSession();
    url.attach(s.session);
    url.applyConfig(service('', 'T1'));
    url.close();
    expect(s.calls[0].cancelled).toBe(true);
    url.applyConfig(service('', 'T2'));
    url.attach(fakeSession().session);
    expect(s.calls).toHaveLength(1);
  });
});
