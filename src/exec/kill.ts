// Killing an exec session's processes. The session leader's process group is not all of it: an
// interactive shell on a terminal puts each job in a group of its own (same session), so every
// process whose session id is the leader's pid is found through /proc and its group killed.
//
// A session or group id is a pid number, and it names *our* session only while something pins
// that number: the kernel frees a pid number when no process uses it any more as its pid, its
// process group id or its session id, and may then give it to a new process, which may setsid
// (another exec session, an app restart). So the leader's pid is signalled as a group, and the
// processes of its session are trusted, only while the leader is known to be unreaped (it pins
// the number). Once it may have been reaped (node-pty reaps in a thread of its own, before we
// hear of the exit; child_process reports the exit after libuv reaped), a process of session
// `sid` is trusted only if it started before a moment when the leader was seen unreaped: its
// session was ours when it was forked, and a process changes its session only by setsid, to its
// own pid. What the command started after the last look at it cannot be told from a stranger
// that took its pid, and is left alone.
//
// What remains is the time between reading /proc and kill(): a group seen with a live member
// cannot be freed and reused within it unless that member dies and the whole pid space wraps
// around in between.
import { readdirSync, readFileSync } from 'node:fs';
import { signalProcess } from '../supervisor/child.js';

/** What /proc/<pid>/stat tells about a process. `start`: clock ticks since boot. */
export interface ProcStat {
  pid: number;
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  start: number;
}

/** /proc/<pid>/stat, or undefined when it is gone (or there is no /proc). */
export function statOf(pid: number | string): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid pgrp session ...: comm may hold spaces and ')', so after the last ')'.
  // starttime is field 22 of the line, the 20th after comm.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid: Number(pid),
    state: fields[0]!,
    ppid: Number(fields[1]),
    pgrp: Number(fields[2]),
    session: Number(fields[3]),
    start: Number(fields[19]),
  };
}

/**
 * Now, in the unit of a process's start time (USER_HZ, 100 on Linux), rounded down; undefined
 * without /proc.
 */
function nowTicks(): number | undefined {
  try {
    return Math.floor(Number.parseFloat(readFileSync('/proc/uptime', 'latin1')) * 100);
  } catch {
    return undefined;
  }
}

function allStats(): ProcStat[] {
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return [];
  }
  const stats: ProcStat[] = [];
  for (const pid of pids) {
    if (pid.charCodeAt(0) < 48 || pid.charCodeAt(0) > 57) continue;
    const stat = statOf(pid);
    if (stat) stats.push(stat);
  }
  return stats;
}

/**
 * The process groups of session `sid` that are provably the session of our leader (see above):
 * all of them while the leader is unreaped; once it may have been reaped, those of processes
 * that started strictly before `seenUnreapedAt` (a tick at which the leader was seen unreaped).
 * `leaderStart` tells the leader from a newcomer with its pid.
 */
export function groupsToKill(
  sid: number,
  leaderStart: number | undefined,
  leaderUnreaped: boolean,
  seenUnreapedAt: number | undefined,
  procs: Iterable<ProcStat>,
): number[] {
  const groups = new Set<number>();
  if (leaderUnreaped) groups.add(sid);
  for (const p of procs) {
    if (p.session !== sid) continue;
    if (p.pid === sid) {
      if (p.start === leaderStart) groups.add(p.pgrp); // the leader itself, not reaped
      continue;
    }
    if (leaderUnreaped || (seenUnreapedAt !== undefined && p.start < seenUnreapedAt)) groups.add(p.pgrp);
  }
  return [...groups];
}

/**
 * The leader of an exec session (the command), known by its pid and start time, and the one
 * kill of its session. `unreaped` says whether the caller knows it is not reaped yet (it is the
 * only one to reap it); otherwise /proc is asked.
 */
export class SessionLeader {
  private readonly start: number | undefined;
  private seenUnreapedAt: number | undefined;
  private reaped = false;
  private killed = false;

  /** Call right after the spawn, before anything could have reaped it. */
  constructor(readonly pid: number) {
    const now = nowTicks();
    const stat = statOf(pid);
    // Our child, or a stranger that took its pid after a reap: then nothing is ever trusted.
    this.start = stat?.ppid === process.pid ? stat.start : undefined;
    if (this.start === undefined) this.reaped = true;
    else this.seenUnreapedAt = now;
  }

  /** 'running', 'zombie' (exited, not reaped), or 'reaped' (or unknown), which is final. */
  look(): 'running' | 'zombie' | 'reaped' {
    if (this.reaped) return 'reaped';
    const now = nowTicks(); // read before the stat: the leader was unreaped at `now` or later
    const stat = statOf(this.pid);
    if (!stat || stat.start !== this.start) {
      this.reaped = true;
      return 'reaped';
    }
    if (now !== undefined) this.seenUnreapedAt = now;
    return stat.state === 'Z' || stat.state === 'X' ? 'zombie' : 'running';
  }

  /** Its exit was reported after a reap (node-pty, child_process): never ask /proc again. */
  markReaped(): void {
    this.reaped = true;
  }

  get sessionKilled(): boolean {
    return this.killed;
  }

  /**
   * SIGKILL to every group of its session that is provably its own (all of them while it is
   * unreaped), once: a second call does nothing.
   */
  killSession(knownUnreaped = false): void {
    if (this.killed) return;
    this.killed = true;
    const procs = allStats();
    // Looked at after the scan: if it was unreaped then, it was all along, and pinned `sid`.
    const unreaped = knownUnreaped || this.look() !== 'reaped';
    for (const group of groupsToKill(this.pid, this.start, unreaped, this.seenUnreapedAt, procs)) {
      signalProcess(group, 'SIGKILL', true);
    }
  }
}
