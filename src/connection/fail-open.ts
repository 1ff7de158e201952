// When the app may start: as soon as its first config is in, or when the connect timeout runs
// out, whichever is first (fail-open). With the server required there is no timeout: the app
// waits for its config. A stop signal ends the wait either way.

export type StartReason =
  /** The first config arrived. */
  | 'config'
  /** The connect timeout ran out first. */
  | 'timeout'
  /** SIGTERM/SIGINT while waiting: do not start the app at all. */
  | 'stopped'
  /** No connection can ever be made (e.g. an unreadable CA file); `error` says why. */
  | 'unusable';

export interface WaitOptions {
  firstConfig: Promise<unknown>;
  /** Milliseconds left of the connect window (from our start). */
  remainingMs: number;
  required: boolean;
  stopped: Promise<unknown>;
}

export async function waitForFirstConfig({ firstConfig, remainingMs, required, stopped }: WaitOptions): Promise<{ reason: StartReason; error?: Error }> {
  let timer: NodeJS.Timeout | undefined;
  // While the server is required nothing else may hold the event loop open (grpc-js unrefs its
  // sockets, our retry timers come and go): this timer does, until the wait is over.
  const deadline = new Promise<{ reason: StartReason }>((resolve) => {
    timer = required ? setInterval(() => {}, 60_000) : setTimeout(() => resolve({ reason: 'timeout' }), Math.max(0, remainingMs));
  });
  try {
    return await Promise.race([
      firstConfig.then(
        () => ({ reason: 'config' as const }),
        (error: Error) => ({ reason: 'unusable' as const, error }),
      ),
      stopped.then(() => ({ reason: 'stopped' as const })),
      deadline,
    ]);
  } finally {
    clearTimeout(timer);
    clearInterval(timer);
  }
}
