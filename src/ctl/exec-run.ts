// One `waypoint-ctl exec` session: the start request, then our stdin to the command and its
// stdout and stderr to ours, byte for byte, until it exits. Our stdin is read only once the
// instance has opened the session (a refused request consumes none of it). Both directions
// keep backpressure: a congested stdout pauses the call (gRPC flow control then holds the
// command back), a full call pauses our stdin. The result is the exit status to leave with:
// the command's, that of an error the session ended with, 255 after `~.`, 128+N after signal N.
import { isatty } from 'node:tty';
import { writeLine } from '../log.js';
import type { ExecResponse__Output } from '../protocol/generated/waypoint_entrypoint/control/v1/ExecResponse.js';
import type { WindowSize } from '../protocol/generated/waypoint_entrypoint/control/v1/WindowSize.js';
import { sendFramedInPlace } from '../protocol/framed-sends.js';
import { grpc } from '../protocol/load.js';
import { type ControlApi, explain } from './client.js';
import { CtlError } from './errors.js';
import { EscapeDetector } from './exec-escape.js';
import { stdinSource } from './exec-input.js';
import { encodeInput, encodeInputInPlace, INPUT_HEADROOM } from './exec-wire.js';
import { onResize, rawMode, windowSize } from './exec-terminal.js';
import { visible } from './output.js';
import type { Target } from './target.js';

export interface ExecSpec {
  app?: string;
  instanceId?: string;
  args: string[];
  tty: boolean;
  term: string;
}

/** What ssh exits with when its session is closed by `~.`. */
export const EXIT_ESCAPE = 255;

const STOP_SIGNALS = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 } as const;

/** Statuses only the server's handler ends an Exec call with (no deadline is set here). */
const SERVER_REFUSALS = new Set<number>([
  grpc.status.INVALID_ARGUMENT,
  grpc.status.NOT_FOUND,
  grpc.status.FAILED_PRECONDITION,
  grpc.status.DEADLINE_EXCEEDED,
]);

type Ending =
  | { kind: 'exit'; code: number }
  | { kind: 'error'; message: string; code: number }
  | { kind: 'escape' }
  | { kind: 'signal'; signal: keyof typeof STOP_SIGNALS }
  | { kind: 'stdout-gone' };

/** A shell's status for a command killed by SIGPIPE: what `exec ... | head` ends with. */
const EXIT_SIGPIPE = 128 + 13;

export async function runExec(api: ControlApi, target: Target, spec: ExecSpec): Promise<number> {
  const call = api.exec();
  const terminalIn = isatty(0);
  const size = spec.tty ? windowSize() : undefined;
  call.write({
    start: {
      app: spec.app ?? '',
      instance_id: spec.instanceId ?? '',
      args: spec.args,
      tty: spec.tty,
      term: spec.tty ? spec.term : '',
      ...(size && { window_size: size }),
    },
  });

  let ending: Ending | undefined;
  let established = false;
  let started = false;
  const cleanups: Array<() => void> = [];
  const endWith = (e: Ending) => {
    if (ending) return;
    ending = e;
    call.cancel();
  };

  for (const signal of Object.keys(STOP_SIGNALS) as Array<keyof typeof STOP_SIGNALS>) {
    const handler = () => endWith({ kind: 'signal', signal });
    process.on(signal, handler);
    cleanups.push(() => process.off(signal, handler));
  }

  // Whoever reads our output went away (`exec ... | head`): the session ends, as the command
  // would have died of SIGPIPE. Nobody is left to tell about a broken stderr.
  const onStdoutError = () => endWith({ kind: 'stdout-gone' });
  const onStderrError = () => undefined;
  process.stdout.on('error', onStdoutError);
  process.stderr.on('error', onStderrError);

  const onStarted = () => {
    started = true;
    sendFramedInPlace(call); // stdin's messages go out without grpc-js's copy
    if (spec.tty && terminalIn) cleanups.push(rawMode());
    if (spec.tty && size) cleanups.push(onResize((s: WindowSize) => call.write({ winch: s })));
    cleanups.push(pumpStdin(call, terminalIn ? new EscapeDetector() : undefined, () => endWith({ kind: 'escape' })));
  };

  try {
    const status = await new Promise<grpc.StatusObject>((resolve) => {
      call.on('metadata', () => {
        established = true;
      });
      call.on('data', (msg: ExecResponse__Output) => {
        switch (msg.event) {
          case 'started':
            onStarted();
            return;
          case 'output': {
            const out = msg.output!.channel === 'STDERR' ? process.stderr : process.stdout;
            if (!out.write(msg.output!.data)) {
              call.pause();
              out.once('drain', () => call.resume());
            }
            return;
          }
          case 'exit_code':
            ending ??= { kind: 'exit', code: msg.exit_code! };
            return;
          case 'error':
            ending ??= { kind: 'error', message: msg.error!.message, code: msg.error!.exit_code || 1 };
            return;
        }
      });
      call.on('error', () => undefined); // reported through 'status', which always comes
      // The status can come while messages wait unread (our stdout slow, the call paused): an
      // OK status counts once they are all read (the exit code is among the last). An error
      // status ends it at once: nothing after it is the command's.
      let ok: grpc.StatusObject | undefined;
      let allRead = false;
      call.on('end', () => {
        allRead = true;
        if (ok) resolve(ok);
      });
      call.on('status', (status: grpc.StatusObject) => {
        if (status.code !== grpc.status.OK || allRead) resolve(status);
        else ok = status;
      });
    });
    for (const c of cleanups.splice(0).reverse()) c();
    await Promise.all([drained(process.stdout), drained(process.stderr)]);
    return outcome(ending, status, target, established, started);
  } finally {
    for (const c of cleanups.splice(0).reverse()) c();
    // Last: a write still draining above may fail too.
    process.stdout.off('error', onStdoutError);
    process.stderr.off('error', onStderrError);
  }
}

/** Our stdin to the call (through the escape detector on a terminal); returns the stop. */
function pumpStdin(
  call: ReturnType<ControlApi['exec']>,
  escape: EscapeDetector | undefined,
  onEscape: () => void,
): () => void {
  // A terminal's keys go through the escape detector, which makes new buffers: Node's stdin.
  const { stream: stdin, framed } = escape ? { stream: process.stdin, framed: false } : stdinSource();
  let ended = false;
  const send = (data: Buffer) => {
    if (data.length === 0) return;
    const message = framed && data.byteOffset >= INPUT_HEADROOM ? encodeInputInPlace(data) : encodeInput(data);
    if (!call.write(message)) {
      stdin.pause();
      call.once('drain', () => {
        if (!ended) stdin.resume();
      });
    }
  };
  const onData = (chunk: Buffer) => {
    if (!escape) return send(chunk);
    const { data, close } = escape.feed(chunk);
    send(data);
    if (close) onEscape();
  };
  const onEnd = () => {
    if (escape) send(escape.flush());
    call.write({ input_eof: {} });
  };
  // An unreadable stdin (closed, a directory) is an empty one: the command sees EOF.
  const onError = () => onEnd();
  stdin.on('data', onData);
  stdin.once('end', onEnd);
  stdin.once('error', onError);
  return () => {
    ended = true;
    stdin.off('data', onData);
    stdin.off('end', onEnd);
    stdin.off('error', onError);
    stdin.pause();
  };
}

function outcome(ending: Ending | undefined, status: grpc.StatusObject, target: Target, established: boolean, started: boolean): number {
  switch (ending?.kind) {
    case 'exit':
      return ending.code;
    case 'error':
      writeLine(2, `waypoint-ctl: ${visible(ending.message)}\n`); // the instance's words: no raw control characters (L6)
      return ending.code;
    case 'escape':
      writeLine(2, 'waypoint-ctl: exec session closed (~.)\n');
      return EXIT_ESCAPE;
    case 'signal':
      return 128 + STOP_SIGNALS[ending.signal];
    case 'stdout-gone':
      return EXIT_SIGPIPE;
  }
  if (status.code === grpc.status.OK) throw new CtlError('the server ended the exec session without an exit status');
  const details = status.details || grpc.status[status.code];
  if (started) throw new CtlError(`the exec session broke: ${details}`);
  if (established || SERVER_REFUSALS.has(status.code)) throw new CtlError(details);
  const err = Object.assign(new Error(details), { code: status.code, details, metadata: status.metadata });
  throw explain(err, target);
}

/** Resolves once everything written to `stream` is handed to the system. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0) return Promise.resolve();
  return new Promise((resolve) => {
    stream.write(Buffer.alloc(0), () => resolve());
  });
}
