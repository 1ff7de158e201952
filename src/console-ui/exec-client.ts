// One exec session over the WebSocket /api/v1/exec. The browser sends the session cookie and
// its Origin with the upgrade; no token goes in the URL.
import { eofMessage, parseServerMessage, resizeMessage, startMessage } from './exec-protocol.js';

export interface ExecOptions {
  app: string;
  instance?: string;
  args: string[];
  tty: boolean;
  cols: number;
  rows: number;
}

export interface ExecHandlers {
  started(instanceId: string, sessionId: string | number): void;
  output(stream: 'stdout' | 'stderr', data: Uint8Array): void;
  exit(code: number): void;
  /** The session failed or the connection closed without an exit status. */
  error(message: string): void;
}

export interface ExecConnection {
  send(data: Uint8Array<ArrayBuffer> | string): void;
  resize(cols: number, rows: number): void;
  eof(): void;
  close(): void;
}

const encoder = new TextEncoder();

export function openExec(o: ExecOptions, h: ExecHandlers): ExecConnection {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${scheme}//${location.host}/api/v1/exec`);
  ws.binaryType = 'arraybuffer';
  let ended = false;
  const end = (f: () => void) => {
    if (ended) return;
    ended = true;
    f();
  };
  ws.onopen = () => ws.send(startMessage(o));
  ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
    const m = parseServerMessage(e.data);
    if (m.type === 'output') h.output(m.stream, m.data);
    else if (m.type === 'started') h.started(m.instanceId, m.sessionId);
    else if (m.type === 'exit') end(() => h.exit(m.code));
    else end(() => h.error(m.error));
  };
  ws.onclose = (e) => {
    end(() =>
      h.error(
        e.code === 1008
          ? 'the server refused the session: sign in again'
          : `the connection closed without an exit status (${e.code}${e.reason ? `: ${e.reason}` : ''})`,
      ),
    );
  };
  const open = () => ws.readyState === WebSocket.OPEN && !ended;
  return {
    send: (data) => open() && ws.send(typeof data === 'string' ? encoder.encode(data) : data),
    resize: (cols, rows) => open() && ws.send(resizeMessage(cols, rows)),
    eof: () => open() && ws.send(eofMessage()),
    close: () => {
      ended = true;
      ws.close();
    },
  };
}
