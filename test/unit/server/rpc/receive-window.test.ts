// The tunnel's receive window (src/server/tunnel/window.ts): found through the grpc-js version
// we ship (a real server call), widened once per session (with frames of up to MAX_FRAME), and
// harmless when not found.
import type http2 from 'node:http2';
import { afterEach, describe, expect, it } from 'vitest';
import { closeRawPairs, rawPair, type RawServerCall } from '../../../helpers/raw-grpc.js';
import { MAX_FRAME, SESSION_WINDOW, sessionOf, STREAM_WINDOW, widenReceiveWindow } from '../../../../src/server/rpc/receive-window.js';

afterEach(closeRawPairs);

/** A server whose handler hands its call to `onCall`, and a client that opens one call. */
async function openCall(onCall: (call: RawServerCall) => void): Promise<void> {
  (await rawPair(onCall)).open().write(Buffer.from('hi'));
}

describe('widenReceiveWindow', () => {
  it('finds the session of a grpc-js server call and widens both windows, once per session', async () => {
    const seen = new Promise<{ first: boolean; second: boolean; session: http2.Http2Session }>((resolve) => {
      void openCall((call) => {
        const found = sessionOf(call) as unknown as http2.Http2Session | undefined;
        expect(found).toBeDefined();
        const session = found!;
        let settingsCalls = 0;
        const settings = session.settings.bind(session);
        session.settings = ((s: http2.Settings) => {
          settingsCalls++;
          return settings(s);
        }) as typeof session.settings;
        const first = widenReceiveWindow(call);
        const second = widenReceiveWindow(call);
        expect(settingsCalls).toBe(1);
        resolve({ first, second, session });
      });
    });
    const { first, second, session } = await seen;
    expect(first).toBe(true);
    expect(second).toBe(true);
    expect(session.state.localWindowSize).toBeGreaterThanOrEqual(SESSION_WINDOW - 65_535);
    // The client acknowledges the new settings; then they are the session's own.
    if (session.localSettings.initialWindowSize !== STREAM_WINDOW) await new Promise((r) => session.once('localSettings', r));
    expect(session.localSettings.initialWindowSize).toBe(STREAM_WINDOW);
    expect(session.localSettings.maxFrameSize).toBe(MAX_FRAME);
  });

  it('leaves a call it cannot see through alone, without throwing', () => {
    expect(widenReceiveWindow({})).toBe(false);
    expect(widenReceiveWindow({ call: { stream: {} } })).toBe(false);
    expect(widenReceiveWindow({ call: { nextCall: { stream: { session: { destroyed: false } } } } })).toBe(false);
    const broken = {
      destroyed: false,
      settings: () => {
        throw new Error('ERR_HTTP2_INVALID_SESSION');
      },
      setLocalWindowSize: () => undefined,
    };
    expect(widenReceiveWindow({ call: { stream: { session: broken } } })).toBe(false);
    const closed = { ...broken, destroyed: true };
    expect(widenReceiveWindow({ call: { stream: { session: closed } } })).toBe(false);
  });

  it('widens a session found behind grpc-js interceptors (call.nextCall.stream)', () => {
    const calls: string[] = [];
    const session = {
      destroyed: false,
      settings: (s: { initialWindowSize: number }) => void calls.push(`settings ${s.initialWindowSize}`),
      setLocalWindowSize: (n: number) => void calls.push(`session ${n}`),
    };
    expect(widenReceiveWindow({ call: { nextCall: { stream: { session } } } })).toBe(true);
    expect(calls).toEqual([`session ${SESSION_WINDOW}`, `settings ${STREAM_WINDOW}`]);
  });
});
