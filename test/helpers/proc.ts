// Process inspection for tests, through /proc: whether a pid still runs (a zombie does not),
// and which sockets a process holds.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** The one-letter state from /proc/<pid>/stat, or undefined when the pid is gone. */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // pid (comm) state ...: comm may contain spaces and parentheses, so split at the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Alive and not a zombie: a killed orphan may wait a while for init to reap it. */
export function isRunning(pid: number): boolean {
  const state = processState(pid);
  return state !== undefined && state !== 'Z' && state !== 'X';
}

export interface SocketFd {
  fd: number;
  inode: number;
  /** Where the inode was found: a unix socket (with its path and state), inet, or unknown. */
  kind: 'unix' | 'tcp' | 'tcp6' | 'udp' | 'udp6' | 'raw' | 'raw6' | 'unknown';
  /** unix only: the bound path ('' for a socketpair), whether it listens, whether connected. */
  path?: string;
  listening?: boolean;
  connected?: boolean;
  /** tcp/tcp6 only: the TCP state, e.g. LISTEN or ESTABLISHED. */
  tcpState?: string;
}

/** The states of /proc/net/tcp, by their hex code. */
const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED',
  '02': 'SYN_SENT',
  '06': 'TIME_WAIT',
  '07': 'CLOSE',
  '08': 'CLOSE_WAIT',
  '0A': 'LISTEN',
};

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean);
  } catch {
    return [];
  }
}

/** Every socket among the fds of `pid`, identified through /proc/<pid>/net. */
export function socketFds(pid: number): SocketFd[] {
  const sockets: Array<{ fd: number; inode: number }> = [];
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${name}`);
    } catch {
      continue; // closed meanwhile
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    if (m) sockets.push({ fd: Number(name), inode: Number(m[1]) });
  }
  const unix = new Map<number, { path: string; listening: boolean; connected: boolean }>();
  // Num RefCount Protocol Flags Type St Inode [Path]
  for (const line of readLines(`/proc/${pid}/net/unix`)) {
    const cols = line.trim().split(/\s+/);
    const flags = parseInt(cols[3], 16);
    unix.set(Number(cols[6]), {
      path: cols[7] ?? '',
      listening: (flags & 0x10000) !== 0, // __SO_ACCEPTCON
      connected: cols[5] === '03', // SS_CONNECTED
    });
  }
  const inet = new Map<number, { kind: SocketFd['kind']; tcpState?: string }>();
  // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
  for (const kind of ['tcp', 'tcp6', 'udp', 'udp6', 'raw', 'raw6'] as const) {
    for (const line of readLines(`/proc/${pid}/net/${kind}`)) {
      const cols = line.trim().split(/\s+/);
      const tcpState = kind.startsWith('tcp') ? (TCP_STATES[cols[3]] ?? cols[3]) : undefined;
      inet.set(Number(cols[9]), { kind, tcpState });
    }
  }
  return sockets.map(({ fd, inode }) => {
    const u = unix.get(inode);
    if (u) return { fd, inode, kind: 'unix', ...u };
    const i = inet.get(inode);
    return i ? { fd, inode, ...i } : { fd, inode, kind: 'unknown' };
  });
}

/**
 * Sockets that are more than the unnamed, connected unix socketpairs libuv uses for a child's
 * stdio pipes: anything inet, named, listening or unidentified.
 */
export function networkSockets(pid: number): SocketFd[] {
  return socketFds(pid).filter((s) => !(s.kind === 'unix' && s.path === '' && !s.listening && s.connected));
}

/** The pids of the children of `pid` (all its threads), from /proc. */
export function childPids(pid: number): number[] {
  const pids: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return pids;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) pids.push(...text.split(/\s+/).map(Number));
    } catch {
      /* thread gone */
    }
  }
  return pids;
}

/** The process's command name (/proc/PID/comm), undefined once it is gone. */
export function commandOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `pid` and all its descendants, parents first. */
export function processTree(pid: number): number[] {
  const all: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    all.push(p);
    queue.push(...childPids(p));
  }
  return all;
}

/**
 * SIGKILLs the descendants of `pid` and the process groups they lead (the app runs in a
 * session of its own, so killing the entrypoint alone would leave it behind). `pid` itself is
 * left to its owner (killAll).
 */
export function killDescendants(pid: number): void {
  const tree = processTree(pid).slice(1);
  for (const p of tree) {
    try {
      process.kill(-p, 'SIGKILL'); // fails with ESRCH unless p leads a group
    } catch {
      /* not a group leader */
    }
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}
