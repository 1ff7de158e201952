// The exec WebSocket's messages (CONSOLE-API.md): the start message, resize and eof as text
// JSON, stdin as binary; from the server, output as binary with a first byte naming the stream,
// and started/exit/error as text JSON.

export interface StartMessage {
  type: 'start';
  app: string;
  instance?: string;
  args: string[];
  tty: boolean;
  cols: number;
  rows: number;
  term: 'xterm-256color';
}

export type ServerMessage =
  | { type: 'started'; instanceId: string; sessionId: string | number }
  | { type: 'exit'; code: number }
  | { type: 'error'; error: string }
  | { type: 'output'; stream: 'stdout' | 'stderr'; data: Uint8Array };

export function startMessage(o: { app: string; instance?: string; args: string[]; tty: boolean; cols: number; rows: number }): string {
  const m: StartMessage = { type: 'start', app: o.app, args: o.args, tty: o.tty, cols: o.cols, rows: o.rows, term: 'xterm-256color' };
  if (o.instance) m.instance = o.instance;
  return JSON.stringify(m);
}

export const resizeMessage = (cols: number, rows: number): string => JSON.stringify({ type: 'resize', cols, rows });
export const eofMessage = (): string => JSON.stringify({ type: 'eof' });

/** One message from the server; a message this page does not understand is an error message. */
export function parseServerMessage(data: string | ArrayBuffer | Uint8Array): ServerMessage {
  if (typeof data !== 'string') {
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    const stream = bytes[0] === 1 ? 'stdout' : bytes[0] === 2 ? 'stderr' : null;
    if (!stream) return { type: 'error', error: `the server sent output of an unknown stream (${bytes[0]})` };
    return { type: 'output', stream, data: bytes.subarray(1) };
  }
  let m: unknown;
  try {
    m = JSON.parse(data);
  } catch {
    return { type: 'error', error: 'the server sent a message that is not JSON' };
  }
  const o = m as Record<string, unknown>;
  if (o.type === 'started') return { type: 'started', instanceId: String(o.instanceId ?? ''), sessionId: o.sessionId as string | number };
  if (o.type === 'exit' && typeof o.code === 'number') return { type: 'exit', code: o.code };
  if (o.type === 'error') return { type: 'error', error: String(o.error ?? 'the exec session failed') };
  return { type: 'error', error: `the server sent an unknown message (${String(o.type)})` };
}
