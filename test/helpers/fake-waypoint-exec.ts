// The exec part of the fake Waypoint (fake-waypoint.ts): the server side of one
// EntrypointExecStream, which answers `open` as the script says, records what the entrypoint
// sends, and lets the test drive the operator's side (input, EOF, resize, keepalive, cancel).
import type * as grpcTypes from '@grpc/grpc-js';
import type { EntrypointExecRequest__Output } from '../../src/protocol/generated/hashicorp/waypoint/EntrypointExecRequest.js';
import { isKeepalive, KEEPALIVE } from '../../src/protocol/keepalive.js';
import { grpc } from '../../src/protocol/load.js';
import type { FakeScript } from './fake-waypoint.js';

/** One EntrypointExecStream as the fake saw it; the test drives its server side. */
export interface FakeExec {
  /** The index from `open` (undefined until it came). */
  index?: string;
  instanceId?: string;
  metadata: Record<string, string>;
  /** What the entrypoint sent, kind by kind, in order (output carries its channel). */
  events: Array<'open' | 'stdout' | 'stderr' | 'exit' | 'error' | 'keepalive' | 'other'>;
  stdout(): Buffer;
  stderr(): Buffer;
  /** Output bytes received so far, by channel (cheap to poll, unlike stdout()). */
  received: { stdout: number; stderr: number };
  /** The size of each output message, both channels, in order: how the output was chunked. */
  outputSizes: number[];
  exit?: number;
  error?: { code: number; message: string };
  /** The entrypoint ended its side. */
  clientEnded: boolean;
  /** The call is over (ended both ways, cancelled or broken). */
  closed: boolean;
  /** Sends input; false when the call's buffer is full (see inputAll). */
  input(data: Buffer | string): boolean;
  /** Sends `data` in pieces of `chunkBytes`, waiting for the call to drain whenever it is full. */
  inputAll(data: Buffer, chunkBytes?: number): Promise<void>;
  /** Input bytes handed to the call so far. */
  sent: number;
  /** Stops / resumes reading the entrypoint's messages: a slow operator. */
  pauseOutput(): void;
  resumeOutput(): void;
  inputEof(): void;
  /** Sends an inline keepalive on the stream. */
  keepalive(): void;
  winch(size: { rows: number; cols: number; width?: number; height?: number }): void;
  /** Cancels the call from the server's side (an operator gone, the broker dropping it). */
  cancel(): void;
}

/** Every metadata key with its first value (what the fake records of each call). */
export function metadataOf(md: grpcTypes.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(md.getMap())) out[key] = String(values);
  return out;
}

/** The server side of one exec stream: answers `open` as scripted, records the rest. */
export function execStream(call: grpcTypes.ServerDuplexStream<unknown, unknown>, behaviour: FakeScript['execStream'], pauseAfterOpen: boolean): FakeExec {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const live = () => !exec.closed && !call.cancelled;
  const send = (message: object | typeof KEEPALIVE): boolean => (live() ? call.write(message) : false);
  const exec: FakeExec = {
    metadata: metadataOf(call.metadata),
    events: [],
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err),
    received: { stdout: 0, stderr: 0 },
    outputSizes: [],
    clientEnded: false,
    closed: false,
    sent: 0,
    input: (data) => {
      const bytes = Buffer.from(data);
      exec.sent += bytes.length;
      return send({ input: bytes });
    },
    async inputAll(data, chunkBytes = 64 * 1024) {
      for (let at = 0; at < data.length && live(); at += chunkBytes) {
        if (exec.input(data.subarray(at, at + chunkBytes))) continue;
        await new Promise<void>((resolve) => {
          const done = () => {
            call.off('drain', done);
            call.off('close', done);
            resolve();
          };
          call.on('drain', done);
          call.on('close', done);
        });
      }
    },
    pauseOutput: () => call.pause(),
    resumeOutput: () => call.resume(),
    inputEof: () => void send({ input_eof: {} }),
    keepalive: () => void send(KEEPALIVE),
    winch: (size) => void send({ winch: { width: 0, height: 0, ...size } }),
    cancel: () => {
      if (!live()) return;
      exec.closed = true;
      call.emit('error', { code: grpc.status.CANCELLED, details: 'cancelled by the fake' });
    },
  };
  call.on('data', (message: unknown) => {
    if (isKeepalive(message)) return void exec.events.push('keepalive');
    const m = message as EntrypointExecRequest__Output;
    switch (m.event) {
      case 'open':
        exec.events.push('open');
        exec.index = m.open!.index;
        exec.instanceId = m.open!.instance_id;
        if (behaviour === 'open') send({ opened: true });
        if (pauseAfterOpen) call.pause();
        else if (behaviour === 'deny') send({ opened: false });
        else if (typeof behaviour === 'object') {
          exec.closed = true;
          call.emit('error', { code: behaviour.refuse, details: behaviour.details ?? 'refused by the fake' });
        }
        return;
      case 'output': {
        const channel = m.output!.channel === 'STDERR' ? 'stderr' : 'stdout';
        if (exec.events.at(-1) !== channel) exec.events.push(channel); // a run of output is one event
        (channel === 'stderr' ? err : out).push(m.output!.data);
        exec.received[channel] += m.output!.data.length;
        exec.outputSizes.push(m.output!.data.length);
        return;
      }
      case 'exit':
        exec.events.push('exit');
        exec.exit = m.exit!.code;
        return;
      case 'error':
        exec.events.push('error');
        exec.error = { code: m.error!.error?.code ?? 0, message: m.error!.error?.message ?? '' };
        return;
      default:
        exec.events.push('other');
    }
  });
  call.on('end', () => {
    exec.clientEnded = true;
    if (live()) call.end();
    exec.closed = true;
  });
  call.on('error', () => (exec.closed = true));
  call.on('cancelled', () => (exec.closed = true));
  return exec;
}

