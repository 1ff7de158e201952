// The one SIGCHLD listener, and who gets which exit. Every child we start (the app, exec
// sessions, node-pty children) is *owned* from the tick its spawn returns: its exit status
// belongs to its owner alone, collected exactly once, either here (`reap`: we wait for it
// ourselves) or by whoever else waits for it (`watch`: libuv or node-pty reap it, and the owner
// only looks at it at each SIGCHLD). Every other child of ours is an adopted orphan: the orphan
// reaper (reaper.ts) waits for those and never for an owned pid, and never by waitpid(-1).
//
// One instance for the whole process, made by src/entrypoint.ts and lent to the exec chunk
// through its ExecHost: a second copy would let its orphan reaper steal an owned exit status.
// No module state here, so the chunk may import this file's types without a copy of the state.

/** How a child ended, as waitid tells it. */
export interface ExitStatus {
  code: number | null;
  signal: number | null;
}

/** waitid(pid, WNOHANG), as the posix addon's waitChild: null while it runs; `keep` leaves the zombie. */
export type WaitChild = (pid: number, keep?: boolean) => ExitStatus | null;

export interface ReapOptions {
  wait: WaitChild;
  /** Called once, with the status, after the child was reaped. */
  onExit(status: ExitStatus): void;
  /** Runs once the child has exited, while it is still an unreaped zombie (its pid still ours). */
  whileZombie?(): void;
}

/** The process's side of it: the SIGCHLD listener and a timer (a fake in unit tests). */
export interface ExitSignals {
  listen(handler: () => void): () => void;
  every(ms: number, handler: () => void): () => void;
}

const processSignals: ExitSignals = {
  listen: (handler) => {
    process.on('SIGCHLD', handler);
    return () => process.off('SIGCHLD', handler);
  },
  every: (ms, handler) => {
    const timer = setInterval(handler, ms);
    return () => clearInterval(timer);
  },
};

/**
 * Owners are also looked at this often: a SIGCHLD arriving while another is pending is lost. The
 * timer also keeps Node's loop alive while a child is owned (a signal listener does not), so we
 * wait for an exit status even when the child's output closed long before.
 */
export const POLL_MS = 1000;

interface Owner {
  readonly pid: number;
  readonly check: () => void;
}

export class ChildExits {
  // A set of registrations, not of pids: a pid number reaped by libuv may be given to a new child
  // before its old owner hears of the exit, and then both own it for a moment.
  private readonly owners = new Set<Owner>();
  private reapOthers?: (owned: Int32Array) => void;
  private unlisten?: () => void;
  private stopPolling?: () => void;

  constructor(private readonly signals: ExitSignals = processSignals) {}

  /**
   * Owns `pid` and waits for it ourselves: `onExit` gets its status exactly once, whichever
   * notices first (a SIGCHLD, the poll, or this very call: it may have exited already).
   * Call right after the spawn returns, in the same tick.
   */
  reap(pid: number, { wait, onExit, whileZombie }: ReapOptions): void {
    const owner: Owner = {
      pid,
      check: () => {
        if (!this.owners.has(owner)) return; // delivered already: its pid may be someone else's
        const status = wait(pid, whileZombie !== undefined);
        if (status === null) return;
        this.owners.delete(owner); // before anything it calls can dispatch again
        if (whileZombie) {
          whileZombie();
          wait(pid);
        }
        this.released();
        onExit(status);
      },
    };
    this.own(owner);
    owner.check();
  }

  /**
   * Owns `pid`, which someone else reaps (libuv, node-pty): the orphan reaper leaves it alone, and
   * `look` runs at every SIGCHLD and poll until the returned release is called, once its owner
   * has the exit status.
   */
  watch(pid: number, look: () => void = () => {}): () => void {
    const owner: Owner = { pid, check: look };
    this.own(owner);
    return () => {
      if (this.owners.delete(owner)) this.released();
    };
  }

  /** From now on, `reap` waits for every zombie child whose pid is not owned (the orphans). */
  reapOrphansWith(reap: (owned: Int32Array) => void): void {
    this.reapOthers = reap;
    this.update();
    this.reapOrphans();
  }

  /** What a SIGCHLD does: each owner looks at its child, then the orphans are reaped. */
  dispatch(): void {
    this.checkOwners();
    this.reapOrphans();
  }

  /** The pids owned now. */
  owned(): number[] {
    return [...this.owners].map((owner) => owner.pid);
  }

  private own(owner: Owner): void {
    this.owners.add(owner);
    this.update();
  }

  private released(): void {
    this.update();
    this.reapOrphans(); // an orphan may have exited while its pid number was still owned
  }

  private checkOwners(): void {
    // Owners added meanwhile looked at their child themselves; released ones are skipped.
    for (const owner of [...this.owners]) {
      if (this.owners.has(owner)) owner.check();
    }
  }

  private reapOrphans(): void {
    this.reapOthers?.(Int32Array.from(this.owned()));
  }

  /** The listener while anyone needs it, the poll while anything is owned. */
  private update(): void {
    const listen = this.owners.size > 0 || this.reapOthers !== undefined;
    if (listen && !this.unlisten) this.unlisten = this.signals.listen(() => this.dispatch());
    if (!listen && this.unlisten) {
      this.unlisten();
      this.unlisten = undefined;
    }
    const poll = this.owners.size > 0;
    if (poll && !this.stopPolling) this.stopPolling = this.signals.every(POLL_MS, () => this.checkOwners());
    if (!poll && this.stopPolling) {
      this.stopPolling();
      this.stopPolling = undefined;
    }
  }
}
