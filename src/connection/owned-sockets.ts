// Channel credentials that make a closed channel really let go of the network.
//
// Each connection attempt (and each session) has a channel of its own, closed when it fails. Two
// grpc-js behaviours would otherwise leak past that close:
//   - a subchannel in backoff when its channel closes still reconnects once when the backoff
//     ends (nobody will ever use that connection: a stray connect, or an idle connection kept
//     alive by keepalive pings forever);
//   - a connection attempt to a peer that accepts TCP but never sends its HTTP/2 SETTINGS never
//     settles (grpc-js has no connect timeout), so its socket stays open for as long as the
//     peer keeps it.
// grpc-js destroys a subchannel's secure connector when nothing references the subchannel any
// more (its channel closed, with a channel-local subchannel pool). The connector here refuses to
// connect from then on, and destroys the sockets it handed out.
import type { Socket } from 'node:net';
import type { ChannelCredentials } from '@grpc/grpc-js';
import { grpc } from '../protocol/instance.js';

type SecureConnector = ReturnType<ChannelCredentials['_createSecureConnector']>;

/** How long an established connection may take to close gracefully before it is destroyed. */
const GRACE_MS = 1_000;

class ChannelClosedError extends Error {
  constructor() {
    super('channel closed');
  }
}

export class OwnedSocketsCredentials extends grpc.ChannelCredentials {
  constructor(private readonly inner: ChannelCredentials) {
    super();
  }

  _isSecure(): boolean {
    return this.inner._isSecure();
  }

  _equals(other: ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(...args: Parameters<ChannelCredentials['_createSecureConnector']>): SecureConnector {
    const inner = this.inner._createSecureConnector(...args);
    const sockets = new Set<Socket>();
    let destroyed = false;
    return {
      async connect(socket) {
        if (destroyed) {
          socket.destroy();
          throw new ChannelClosedError();
        }
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        return inner.connect(socket);
      },
      async waitForReady() {
        if (destroyed) throw new ChannelClosedError();
        return inner.waitForReady();
      },
      getCallCredentials: () => inner.getCallCredentials(),
      destroy() {
        destroyed = true;
        inner.destroy();
        if (sockets.size === 0) return;
        // An established connection gets a GOAWAY from grpc-js first; whatever is still open
        // after the grace period (a silent peer's socket, above all) is cut.
        setTimeout(() => {
          for (const socket of sockets) socket.destroy();
          sockets.clear();
        }, GRACE_MS).unref();
      },
    };
  }
}
