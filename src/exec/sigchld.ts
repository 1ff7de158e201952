// One SIGCHLD listener for every exec process (ten sessions would otherwise add ten listeners
// and Node's max-listeners warning), plus a slow poll in case a SIGCHLD was coalesced away.
const POLL_MS = 1000;

const checks = new Set<() => void>();
let poll: NodeJS.Timeout | undefined;

function runChecks(): void {
  for (const check of [...checks]) check();
}

/** Calls `check` at every SIGCHLD (and now and then) until the returned function is called. */
export function watchChildren(check: () => void): () => void {
  if (checks.size === 0) {
    process.on('SIGCHLD', runChecks);
    poll = setInterval(runChecks, POLL_MS);
  }
  checks.add(check);
  return () => {
    if (!checks.delete(check) || checks.size > 0) return;
    process.off('SIGCHLD', runChecks);
    clearInterval(poll);
    poll = undefined;
  };
}
