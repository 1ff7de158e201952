// Killing an exec session's processes without ever reaching a stranger's: a session or group id
// is a pid number, which names our session only while something pins it (src/exec/kill.ts).
// The decision on its own, then the runners that use it: a job an exec left in its session goes
// with it, also after node-pty or libuv reaped the leader; fds of a spawn that failed halfway.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { groupsToKill, type ProcStat, SessionLeader } from '../../../src/exec/kill.js';
import { spawnPipes } from '../../../src/exec/pipe-runner.js';
import type { ExecHost, ExecProcess } from '../../../src/exec/process.js';
import { spawnPty } from '../../../src/exec/pty-runner.js';
import type { PosixAddon } from '../../../src/native/posix.js';
import { ChildExits } from '../../../src/supervisor/child-exits.js';
import { openPipes } from '../../../src/supervisor/pipes.js';
import { isRunning } from '../../helpers/proc.js';
import { ROOT, waitFor, withDeadline } from '../../helpers/run.js';

const require = createRequire(import.meta.url);

function nativeAddon(): PosixAddon {
  const mod = { exports: {} as PosixAddon };
  process.dlopen(mod, path.join(ROOT, 'native/build/Release/posix.node'));
  return mod.exports;
}

function proc(pid: number, pgrp: number, session: number, start: number, state = 'S'): ProcStat {
  return { pid, state, ppid: 1, pgrp, session, start };
}

describe('which groups of a session may be killed', () => {
  const SID = 500;
  // The leader (started at tick 1000), a job in its group, a job in a group of its own, a
  // process of another session.
  const ours = [proc(SID, SID, SID, 1000), proc(501, SID, SID, 1010), proc(502, 502, SID, 1020), proc(600, 600, 600, 900)];

  it('all of them while the leader is unreaped (it pins the number)', () => {
    expect(groupsToKill(SID, 1000, true, 1005, ours).sort()).toEqual([SID, 502]);
  });

  it('its own group even when /proc shows nothing', () => {
    expect(groupsToKill(SID, undefined, true, undefined, [])).toEqual([SID]);
  });

  it('once it may be reaped: only processes started before it was last seen unreaped', () => {
    const reaped = ours.slice(1);
    expect(groupsToKill(SID, 1000, false, 1015, reaped)).toEqual([SID]); // 501 (tick 1010) only
    expect(groupsToKill(SID, 1000, false, 1021, reaped).sort()).toEqual([SID, 502]);
    expect(groupsToKill(SID, 1000, false, 1020, reaped)).toEqual([SID]); // the same tick: not provable
  });

  it('never a newcomer that took the pid and leads a session of its own, nor its processes', () => {
    // Our session ended entirely; pid 500 was given to a new process (an app restart: setsid).
    const stranger = [proc(SID, SID, SID, 5000), proc(700, 700, SID, 5001)];
    expect(groupsToKill(SID, 1000, false, 1021, stranger)).toEqual([]);
    expect(groupsToKill(SID, 1000, false, undefined, ours.slice(1))).toEqual([]);
  });
});

const exits = new ChildExits();
function host(posix: () => PosixAddon): ExecHost {
  return { exits, posix, nodePty: () => require('node-pty') };
}
const noAddon = () => {
  throw new Error('no addon here');
};
const ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

function collect(stream: Readable): () => string {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
}

const started: ExecProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) p.kill();
  vi.restoreAllMocks();
});

function ticksNow(): number {
  return Math.floor(Number.parseFloat(readFileSync('/proc/uptime', 'latin1')) * 100);
}
function startTick(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/**
 * Makes the runners look at their leaders once `pid` has run for a few ticks: a SIGCHLD of our
 * own (they look at every SIGCHLD), then a turn of the loop for it to be handled.
 */
async function lookAfterStartOf(pid: number): Promise<void> {
  const start = startTick(pid);
  await waitFor(() => ticksNow() > start + 2, { intervalMs: 5, what: () => 'a few ticks to pass' });
  // Listeners run in order: the runners' (added at their spawn) before this one.
  const handled = new Promise((resolve) => process.once('SIGCHLD', resolve));
  spawnSync('true');
  await withDeadline(handled, 5000, 'a SIGCHLD');
}

describe('a job left in its session goes with the command, after the leader was reaped', () => {
  it('on a terminal (node-pty reaps the leader in a thread of its own)', async () => {
    const p = spawnPty({ command: 'sh', file: '/bin/sh', args: ['-c', 'sleep 100 & echo "job $!"; read x'], env: ENV, cwd: process.cwd() }, { term: 'xterm', size: { rows: 24, cols: 80 } }, host(nativeAddon));
    started.push(p);
    const out = collect(p.stdout);
    await waitFor(() => /job \d+/.test(out()), { what: () => `the job's pid in ${JSON.stringify(out())}` });
    const job = Number(/job (\d+)/.exec(out())![1]);
    await lookAfterStartOf(job);
    p.write(Buffer.from('go\n'));
    expect(await withDeadline(p.exited, 5000, 'the exit')).toBe(0);
    await waitFor(() => !isRunning(job), { timeoutMs: 1000, what: () => `the job ${job} to be gone` });
  });

  it('on pipes through child_process (libuv reaps the leader before the exit is reported)', async () => {
    const p = spawnPipes({ command: 'sh', file: '/bin/sh', args: ['-c', 'sleep 100 & echo "job $!"; read x'], env: ENV, cwd: process.cwd() }, host(noAddon));
    started.push(p);
    const out = collect(p.stdout);
    await waitFor(() => /job \d+/.test(out()), { what: () => `the job's pid in ${JSON.stringify(out())}` });
    const job = Number(/job (\d+)/.exec(out())![1]);
    await lookAfterStartOf(job);
    p.endInput();
    expect(await withDeadline(p.exited, 5000, 'the exit')).toBe(1); // read met the end
    await waitFor(() => !isRunning(job), { timeoutMs: 1000, what: () => `the job ${job} to be gone` });
  });

  it('kills a session once: a kill before the exit is not repeated at the exit', async () => {
    const p = spawnPipes({ command: 'sh', file: '/bin/sh', args: ['-c', 'sleep 100 & echo "job $!"; sleep 100'], env: ENV, cwd: process.cwd() }, host(nativeAddon));
    started.push(p);
    const out = collect(p.stdout);
    await waitFor(() => /job \d+/.test(out()));
    const kill = vi.spyOn(process, 'kill');
    p.kill();
    const afterKill = kill.mock.calls.length;
    expect(afterKill).toBeGreaterThan(0);
    expect(await withDeadline(p.exited, 5000, 'the exit')).toBe(128 + 9);
    expect(kill.mock.calls.length).toBe(afterKill);
  });

  it('a SessionLeader whose pid is not our child trusts nothing', () => {
    const leader = new SessionLeader(1); // init: not our child
    expect(leader.look()).toBe('reaped');
  });
});

describe('spawning on pipes when a pipe cannot be made (EMFILE)', () => {
  function failingOn(call: number): { addon: PosixAddon; made: number[] } {
    const real = nativeAddon();
    const made: number[] = [];
    let calls = 0;
    const pipe = () => {
      if (++calls === call) throw Object.assign(new Error('Too many open files'), { code: 'EMFILE' });
      const fds = real.pipe();
      made.push(fds[0], fds[1]);
      return fds;
    };
    // The addon's own properties are read-only: shadow pipe() on an object inheriting the rest.
    const addon = Object.defineProperty(Object.create(real), 'pipe', { value: pipe }) as PosixAddon;
    return { addon, made };
  }
  const isOpen = (fd: number) => {
    try {
      fstatSync(fd);
      return true;
    } catch {
      return false;
    }
  };

  it('openPipes closes the pipes it made before the failure', () => {
    const { addon, made } = failingOn(2);
    expect(() => openPipes(addon, 2)).toThrow('Too many open files');
    expect(made).toHaveLength(2);
    expect(made.filter(isOpen)).toEqual([]);
  });

  it('an exec on pipes leaks none of the fds of its first two pipes', () => {
    const { addon, made } = failingOn(3);
    expect(() => spawnPipes({ command: 'true', file: '/bin/true', args: [], env: ENV, cwd: process.cwd() }, host(() => addon))).toThrow('Too many open files');
    expect(made).toHaveLength(4);
    expect(made.filter(isOpen)).toEqual([]);
  });
});
