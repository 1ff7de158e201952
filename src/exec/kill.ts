// Killing an exec session's processes. The session leader's process group is not all of it: an
// interactive shell on a terminal puts each job in a group of its own (same session), so every
// process whose session id is the leader's pid is found through /proc and killed as well.
import { readdirSync, readFileSync } from 'node:fs';

function signalGroup(pgid: number): void {
  try {
    process.kill(-pgid, 'SIGKILL');
  } catch {
    // ESRCH: nothing left in it
  }
}

/** The session and process group ids from /proc/<pid>/stat, or undefined when it is gone. */
export function sessionOf(pid: string): { pgrp: number; session: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return undefined;
  }
  // pid (comm) state ppid pgrp session ...: comm may hold spaces and ')', so after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pgrp: Number(fields[2]), session: Number(fields[3]) };
}

/** SIGKILL to the group `sid` leads and to every process group of session `sid`. */
export function killSession(sid: number): void {
  signalGroup(sid);
  let pids: string[];
  try {
    pids = readdirSync('/proc');
  } catch {
    return; // no /proc: the group is what we can reach
  }
  for (const pid of pids) {
    if (pid.charCodeAt(0) < 48 || pid.charCodeAt(0) > 57) continue;
    const ids = sessionOf(pid);
    if (ids?.session === sid) signalGroup(ids.pgrp);
  }
}
