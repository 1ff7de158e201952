// The SIGCHLD dispatcher's own logic, with a fake signal and timer and fake children: an owned
// child's status reaches its owner exactly once whoever notices first, even when it exited
// before it was registered; every other zombie goes to the orphan reaper, never an owned one.
import { describe, expect, it } from 'vitest';
import { ChildExits, type ExitSignals, type ExitStatus, POLL_MS } from '../../../src/supervisor/child-exits.js';

/** A fake SIGCHLD and poll timer: fired by hand, and whether each is on. */
class FakeSignals implements ExitSignals {
  handler?: () => void;
  tick?: () => void;
  pollMs?: number;
  listen(handler: () => void): () => void {
    this.handler = handler;
    return () => (this.handler = undefined);
  }
  every(ms: number, handler: () => void): () => void {
    this.pollMs = ms;
    this.tick = handler;
    return () => (this.tick = undefined);
  }
  sigchld(): void {
    this.handler?.();
  }
}

/** Fake children: exited ones are zombies until a wait without `keep` reaps them. */
class FakeKids {
  readonly zombies = new Map<number, ExitStatus>();
  readonly reaped: number[] = [];
  readonly waits: Array<[number, boolean]> = [];
  readonly wait = (pid: number, keep = false): ExitStatus | null => {
    this.waits.push([pid, keep]);
    const status = this.zombies.get(pid);
    if (!status) return null;
    if (!keep) {
      this.zombies.delete(pid);
      this.reaped.push(pid);
    }
    return status;
  };
  exit(pid: number, code: number): void {
    this.zombies.set(pid, { code, signal: null });
  }
}

function setup() {
  const signals = new FakeSignals();
  const kids = new FakeKids();
  const exits = new ChildExits(signals);
  const statuses: Array<[number, ExitStatus]> = [];
  const reap = (pid: number, whileZombie?: () => void) =>
    exits.reap(pid, { wait: kids.wait, onExit: (status) => statuses.push([pid, status]), whileZombie });
  return { signals, kids, exits, statuses, reap };
}

describe('ChildExits', () => {
  it('delivers an owned exit at the SIGCHLD after it, once', () => {
    const { signals, kids, statuses, reap } = setup();
    reap(10);
    signals.sigchld();
    expect(statuses).toEqual([]);
    kids.exit(10, 3);
    signals.sigchld();
    signals.sigchld();
    signals.tick?.();
    expect(statuses).toEqual([[10, { code: 3, signal: null }]]);
    expect(kids.reaped).toEqual([10]);
    // At the registration, the first SIGCHLD, the exit: none once delivered.
    expect(kids.waits.filter(([pid]) => pid === 10)).toHaveLength(3);
  });

  it('delivers the exit of a child that was gone before it was registered, at once', () => {
    const { signals, kids, statuses, reap } = setup();
    kids.exit(11, 0);
    reap(11);
    expect(statuses).toEqual([[11, { code: 0, signal: null }]]);
    signals.sigchld();
    expect(statuses).toHaveLength(1);
  });

  it('notices an exit whose SIGCHLD was lost, at the poll', () => {
    const { signals, kids, statuses, reap } = setup();
    reap(12);
    expect(signals.pollMs).toBe(POLL_MS);
    kids.exit(12, 1);
    signals.tick?.();
    expect(statuses).toEqual([[12, { code: 1, signal: null }]]);
  });

  it('runs whileZombie with the child still unreaped, then reaps it, then delivers', () => {
    const { kids, statuses, reap } = setup();
    const seen: string[] = [];
    kids.exit(13, 0);
    reap(13, () => seen.push(`zombie=${kids.zombies.has(13)} delivered=${statuses.length}`));
    expect(seen).toEqual(['zombie=true delivered=0']);
    expect(kids.waits).toEqual([
      [13, true],
      [13, false],
    ]);
    expect(statuses).toHaveLength(1);
  });

  it('gives each owner its own child, however many SIGCHLDs', () => {
    const { signals, kids, statuses, reap } = setup();
    reap(20);
    reap(21);
    kids.exit(21, 7);
    signals.sigchld();
    kids.exit(20, 5);
    signals.sigchld();
    expect(statuses).toEqual([
      [21, { code: 7, signal: null }],
      [20, { code: 5, signal: null }],
    ]);
  });

  it('hands unowned zombies to the orphan reaper, never an owned pid', () => {
    const { signals, exits, kids, reap } = setup();
    const calls: number[][] = [];
    exits.reapOrphansWith((owned) => calls.push([...owned]));
    expect(calls).toEqual([[]]); // at once: orphans may be waiting already
    reap(30);
    const release = exits.watch(31, () => {});
    signals.sigchld();
    expect(calls.at(-1)).toEqual([30, 31]);
    kids.exit(30, 0);
    signals.sigchld();
    expect(calls.at(-1)).toEqual([31]);
    release();
    // Released: the reaper looks again, as an orphan may have exited under an owned pid number.
    expect(calls.at(-1)).toEqual([]);
  });

  it('looks at each watched child at every SIGCHLD and poll, until released', () => {
    const { signals, exits } = setup();
    let looks = 0;
    const release = exits.watch(40, () => looks++);
    signals.sigchld();
    signals.tick?.();
    expect(looks).toBe(2);
    release();
    release(); // twice is harmless
    signals.sigchld();
    expect(looks).toBe(2);
  });

  it('keeps two owners of one pid number apart (libuv reaped it, a new child got it)', () => {
    const { signals, exits } = setup();
    const looks: string[] = [];
    const releaseOld = exits.watch(50, () => looks.push('old'));
    exits.watch(50, () => looks.push('new'));
    releaseOld();
    signals.sigchld();
    expect(looks).toEqual(['new']);
    expect(exits.owned()).toEqual([50]);
  });

  it('skips an owner released by another during the same dispatch', () => {
    const { signals, exits } = setup();
    const looks: string[] = [];
    let releaseSecond = () => {};
    exits.watch(60, () => {
      looks.push('first');
      releaseSecond();
    });
    releaseSecond = exits.watch(61, () => looks.push('second'));
    signals.sigchld();
    expect(looks).toEqual(['first']);
  });

  it('listens and polls only while needed', () => {
    const { signals, exits, kids, reap } = setup();
    expect(signals.handler).toBeUndefined();
    reap(70);
    expect(signals.handler).toBeDefined();
    expect(signals.tick).toBeDefined();
    kids.exit(70, 0);
    signals.sigchld();
    expect(signals.handler).toBeUndefined();
    expect(signals.tick).toBeUndefined();
    exits.reapOrphansWith(() => {});
    expect(signals.handler).toBeDefined(); // the orphan reaper listens for good
    expect(signals.tick).toBeUndefined(); // but never polls /proc
  });
});
