// Server-Sent Events with the session cookie (EventSource sends it, same origin). EventSource
// reconnects by itself after a network error (sending Last-Event-ID); after an HTTP error it
// gives up, so we ask whether the session is still alive and, if so, open a new one shortly.
// (A reader on fetch with the parser in JS was tried: at 10 000 lines/s it fell further behind,
// one JS stream read per event the server writes; scripts/bench/console-logs.mjs measures it.)
import { currentSession } from './api.js';

export type StreamState = 'connecting' | 'live' | 'retrying';

export interface StreamHandlers {
  [event: string]: (data: string, lastEventId: string) => void;
}

export function openEvents(url: string, handlers: StreamHandlers, onState: (s: StreamState) => void, onSignedOut: () => void): () => void {
  let es: EventSource | null = null;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;

  const connect = () => {
    onState('connecting');
    es = new EventSource(url);
    es.onopen = () => onState('live');
    for (const [name, f] of Object.entries(handlers)) {
      es.addEventListener(name, (e) => {
        const m = e as MessageEvent<string>;
        f(m.data, m.lastEventId);
      });
    }
    es.onerror = () => {
      if (closed || !es) return;
      if (es.readyState === EventSource.CONNECTING) {
        onState('retrying');
        return;
      }
      es.close();
      onState('retrying');
      currentSession().then(
        (s) => {
          if (closed) return;
          if (s === null) onSignedOut();
          else timer = setTimeout(connect, 2000);
        },
        () => {
          if (!closed) timer = setTimeout(connect, 2000);
        },
      );
    };
  };
  connect();
  return () => {
    closed = true;
    clearTimeout(timer);
    es?.close();
  };
}
