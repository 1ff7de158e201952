// One inbound connection: a Connect stream on the session's channel carried to and from a TCP
// connection to the app on 127.0.0.1:$PORT, as raw bytes. Each direction half-closes on its own
// (an HTTP client may finish its request and still read the response), and each has
// backpressure: a slow app pauses the stream, a slow server pauses the app's socket, so neither
// side's bytes pile up in our memory.
import net from 'node:net';
import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from '../log.js';
import type { WaypointClient } from '../protocol/generated/hashicorp/waypoint/Waypoint.js';
import type { ConnectResponse__Output } from '../protocol/generated/waypoint_entrypoint/tunnel/v1/ConnectResponse.js';
import { sendFramedInPlace } from '../protocol/framed-sends.js';
import { DATA_HEADROOM, encodeDataInPlace, MAX_DATA_CHUNK, openConnect } from './wire.js';

/** After the server's side is done, how long the app may take to read what is still buffered. */
const FLUSH_MS = 5_000;
/**
 * The most one read from the app takes, and sends as one message: 64 KiB messages cost each hop
 * (here, the server) more in their count than in their bytes (issue 17).
 */
const READ_BYTES = MAX_DATA_CHUNK;
/**
 * At most this many of the app's bytes wait in the call (written, not yet sent) before we stop
 * reading the app: grpc-js alone would take 16 messages, up to 16 MiB each connection.
 */
export const MAX_QUEUED_BYTES = 2 * READ_BYTES;

// Every connection reads the app's bytes into this one buffer (net's `onread`), not into a new
// one per read: each read is copied into its message before the next can come.
let readSlab: Buffer | undefined;
const readBuffer = () => (readSlab ??= Buffer.allocUnsafe(READ_BYTES));

// Messages are laid out one after the other in a slab, each with its header's room before its
// data: the one copy of the app's bytes. Once a message is sent, its part of the slab is garbage.
let messageSlab: Buffer | undefined;
let messageSlabUsed = 0;
/** Connections being carried: with none, both buffers are let go (an idle instance keeps no MiB of them). */
let carrying = 0;

/** ConnectRequest{data} with a copy of `chunk` (≤ MAX_DATA_CHUNK), ready to be framed in place. */
function dataMessage(chunk: Buffer): Buffer {
  const need = DATA_HEADROOM + chunk.length;
  if (!messageSlab || messageSlab.length - messageSlabUsed < need) {
    messageSlab = Buffer.allocUnsafe(Math.max(READ_BYTES, need));
    messageSlabUsed = 0;
  }
  const data = messageSlab.subarray(messageSlabUsed + DATA_HEADROOM, messageSlabUsed + need);
  messageSlabUsed += need;
  chunk.copy(data);
  return encodeDataInPlace(data);
}

export interface CarryOptions {
  client: WaypointClient;
  metadata: Metadata;
  instanceId: string;
  connectionId: string;
  /** Where the app listens: 127.0.0.1 and its PORT. */
  host: string;
  port: number;
  logger: Logger;
  /** The app could not be reached (nothing was sent to it); for a rate-limited summary. */
  onUnreachable(message: string): void;
}

export interface CarryResult {
  /** The TCP connection to the app was made. */
  connected: boolean;
  /** Why it failed, when it did (one line). */
  failure?: string;
}

/** One line for a socket error, as the proto asks: "connect ECONNREFUSED 127.0.0.1:5000". */
function oneLine(err: Error): string {
  return err.message.split('\n')[0];
}

/** Carries one connection until both sides are done or either fails; never rejects. */
export function carry(options: CarryOptions): Promise<CarryResult> {
  const { logger, connectionId } = options;
  carrying++;
  return new Promise((resolve) => {
    const call = openConnect(options.client, options.metadata);
    const socket = net.connect({
      host: options.host,
      port: options.port,
      allowHalfOpen: true,
      onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => fromApp((buf as Buffer).subarray(0, n)) },
    });
    let connected = false;
    /** We half-closed (or failed) the call: nothing more may be written to it. */
    let callEnded = false;
    /** The call is over (its status arrived): nothing more comes from it. */
    let callOver = false;
    let socketClosed = false;
    let appDone = false; // the app closed its side; eof sent
    let clientDone = false; // the server sent eof; the socket's write side ended
    let failure: string | undefined;
    let waitingForCall = false;
    let waitingForSocket = false;

    let settled = false;
    const settle = () => {
      if (settled || !callOver || !socketClosed) return;
      settled = true;
      if (--carrying === 0) readSlab = messageSlab = undefined;
      resolve({ connected, failure });
    };
    const endCall = () => {
      if (callEnded) return;
      callEnded = true;
      call.end();
    };
    const fail = (message: string) => {
      if (callEnded || callOver) return;
      failure = message;
      call.write({ failed: { message, before_connect: !connected } });
      endCall();
      socket.destroy();
    };

    call.on('error', () => {}); // the status says it all; 'error' only needs a listener
    call.write({ accept: { instance_id: options.instanceId, connection_id: connectionId } });

    socket.on('connect', () => {
      connected = true;
      socket.setNoDelay(true); // bytes through a tunnel are already batched by the client
      if (!callEnded && !callOver) call.write({ connected: {} });
    });
    let queued = 0;
    let framedSends: boolean | undefined;
    // `chunk` is a view of the shared read buffer: dataMessage copies it before the next read.
    function fromApp(chunk: Buffer): boolean {
      if (callEnded || callOver) return true;
      // The call is sending by now (accept went first): its filters exist to be patched.
      framedSends ??= sendFramedInPlace(call);
      const message = dataMessage(chunk);
      queued += message.length;
      const ok = call.write(message, () => {
        queued -= message.length;
        if (waitingForCall && queued < MAX_QUEUED_BYTES && !call.writableNeedDrain) {
          waitingForCall = false;
          socket.resume();
        }
      });
      // false: paused (as socket.pause() would) until the call has taken enough.
      if (!ok || queued >= MAX_QUEUED_BYTES) waitingForCall = true;
      return !waitingForCall;
    }
    socket.on('end', () => {
      appDone = true;
      if (callEnded || callOver) return;
      call.write({ eof: {} });
      if (clientDone) endCall();
    });
    socket.on('error', (err) => {
      const message = oneLine(err);
      logger.debug('URL connection to the app failed', { connection_id: connectionId, port: options.port, connected, error: message });
      if (!connected) options.onUnreachable(message);
      fail(message);
    });
    socket.on('close', () => {
      socketClosed = true;
      // Closed without both sides done (destroyed by us): the stream has nothing left to carry.
      if (!failure && !callOver && !(appDone && clientDone)) endCall();
      settle();
    });

    call.on('data', (message: ConnectResponse__Output) => {
      if (socket.destroyed || clientDone) return;
      if (message.event === 'data' && message.data) {
        if (!socket.write(message.data) && !waitingForSocket) {
          waitingForSocket = true;
          call.pause();
          socket.once('drain', () => {
            waitingForSocket = false;
            call.resume();
          });
        }
      } else if (message.event === 'eof') {
        clientDone = true;
        socket.end();
        if (appDone) endCall();
      }
    });
    // 'end' comes after every message was handed over (not merely received, as 'status' is).
    call.on('end', () => {
      callOver = true;
      if (clientDone && !socket.destroyed && socket.writableLength > 0) {
        // The server is done; the app still has bytes to read: let them go, within reason.
        const timer = setTimeout(() => socket.destroy(), FLUSH_MS);
        socket.once('finish', () => socket.destroy());
        socket.once('close', () => clearTimeout(timer));
      } else {
        socket.destroy();
      }
      settle();
    });
    call.on('status', (status) => {
      if (status.code !== 0) {
        // Cut (session lost, server gone, cancelled): the app's connection goes with it.
        logger.debug('URL connection stream ended', { connection_id: connectionId, code: status.code, details: status.details });
        callOver = true;
        socket.destroy();
        settle();
      }
    });
  });
}
