// The HTTP/2 receive window of a client's session, widened for bulk bytes coming to us: a
// download through the tunnel and exec output flow from the entrypoint (the gRPC client) to us,
// exec input from the ctl. Node's default window of 64 KiB per stream (and per session) lets a
// client send one 64 KiB data message per round trip: both sides sit idle waiting for
// WINDOW_UPDATEs. A wider window keeps several messages in flight. It stays bounded: per stream
// by STREAM_WINDOW (what a stream whose reader paused can hold here), per session by
// SESSION_WINDOW.
//
// grpc-js 1.14 has no server option for this (`grpc-node.flow_control_window` is client-only),
// so the session is found through grpc-js internals (the call's `call.stream.session`, or
// `call.nextCall.stream.session` with interceptors). Everything is probed and guarded: when a
// grpc-js release moves them, nothing is found and the window stays Node's default, as before.
// The session's own methods (settings, setLocalWindowSize) are Node's public http2 API.

/** The initial window of every stream on a session we widened (4 × Node's default). */
export const STREAM_WINDOW = 256 * 1024;
/** The session's own window: bounds what all its streams together may have in flight. */
export const SESSION_WINDOW = 1024 * 1024;
/**
 * The largest DATA frame the client may send us (HTTP/2's default is 16 KiB): a 64 KiB message
 * then comes in one frame, not four, each of which costs a turn through Node and grpc-js.
 */
export const MAX_FRAME = 128 * 1024;

interface SessionLike {
  destroyed: boolean;
  settings(settings: { initialWindowSize: number; maxFrameSize: number }): void;
  setLocalWindowSize(size: number): void;
}

const widened = new WeakSet<object>();

function isSession(value: unknown): value is SessionLike {
  const s = value as Partial<SessionLike> | null | undefined;
  return !!s && typeof s.settings === 'function' && typeof s.setLocalWindowSize === 'function' && typeof s.destroyed === 'boolean';
}

/** The Node Http2Session under a grpc-js server call, or undefined when it cannot be found. */
export function sessionOf(call: object): SessionLike | undefined {
  const inner = (call as { call?: { stream?: { session?: unknown }; nextCall?: { stream?: { session?: unknown } } } }).call;
  const candidate = inner?.stream?.session ?? inner?.nextCall?.stream?.session;
  return isSession(candidate) ? candidate : undefined;
}

/**
 * Widens the receive window of the session `call` rides on, once per session. Returns whether
 * the session is (now or already) widened; false leaves Node's default in place.
 */
export function widenReceiveWindow(call: object): boolean {
  let session: SessionLike | undefined;
  try {
    session = sessionOf(call);
    if (!session || session.destroyed) return false;
    if (widened.has(session)) return true;
    widened.add(session);
    session.setLocalWindowSize(SESSION_WINDOW);
    // Applies to the session's open streams too (RFC 9113 §6.9.2), this one included.
    session.settings({ initialWindowSize: STREAM_WINDOW, maxFrameSize: MAX_FRAME });
    return true;
  } catch {
    // A session closing meanwhile, or a Node that refuses: the default window still works.
    return false;
  }
}
