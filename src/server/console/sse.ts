// Server-Sent Events on an HTTP response: `event:`/`id:`/`data:` records, a comment every 15 s
// so that proxies keep an idle stream open, and the end of the stream when the client goes or
// the server stops. Writes return Node's answer (false: the client is behind), for callers that
// must not pile data up in memory.
import type { ServerResponse } from 'node:http';

export const HEARTBEAT_MS = 15_000;

/** One event as it goes on the wire; `data` is JSON on one line (JSON.stringify never breaks one). */
export function sseEvent(event: string, data: unknown, id?: string): string {
  return `${id !== undefined ? `id: ${id}\n` : ''}event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class EventStream {
  private readonly heartbeat: NodeJS.Timeout;
  private readonly closers: Array<() => void> = [];
  private closed = false;

  constructor(
    readonly res: ServerResponse,
    heartbeatMs = HEARTBEAT_MS,
  ) {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      // nginx and its kin would otherwise hold events back in their buffer.
      'X-Accel-Buffering': 'no',
    });
    res.write(': stream open\n\n');
    this.heartbeat = setInterval(() => this.write(': keepalive\n\n'), heartbeatMs);
    res.once('close', () => this.close());
    // Gone while the request was checked (an await ago): its 'close' has been and will not come again.
    if (!res.socket || res.socket.destroyed) this.close();
  }

  /** False when the client's buffer is full (wait for 'drain') or the stream is closed. */
  write(chunk: string): boolean {
    if (this.closed || this.res.writableEnded || this.res.destroyed) return false;
    return this.res.write(chunk);
  }

  send(event: string, data: unknown, id?: string): boolean {
    return this.write(sseEvent(event, data, id));
  }

  /** As a LogSender's call: 'drain' once the client caught up. */
  once(event: 'drain', listener: () => void): void {
    this.res.once(event, listener);
  }

  end(): void {
    this.close();
  }

  onClose(fn: () => void): void {
    if (this.closed) fn();
    else this.closers.push(fn);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Ends the stream (the client's EventSource reconnects, unless told otherwise by a 401 then). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.heartbeat);
    if (!this.res.writableEnded) this.res.end();
    for (const fn of this.closers.splice(0)) fn();
  }
}
