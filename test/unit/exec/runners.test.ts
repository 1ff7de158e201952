// The pipe runner on both its paths, the native posix_spawn one and the child_process fallback
// used when the addon cannot be loaded: separate stdout and stderr, stdin to the end, the exit
// status, and kill() reaching what the command started in its session.
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnPipes } from '../../../src/exec/pipe-runner.js';
import type { ExecHost, ExecProcess } from '../../../src/exec/process.js';
import type { PosixAddon } from '../../../src/native/posix.js';
import { ChildExits } from '../../../src/supervisor/child-exits.js';
import { isRunning } from '../../helpers/proc.js';
import { ROOT, waitFor, withDeadline } from '../../helpers/run.js';

const require = createRequire(import.meta.url);

function nativeAddon(): PosixAddon {
  const mod = { exports: {} as PosixAddon };
  process.dlopen(mod, path.join(ROOT, 'native/build/Release/posix.node'));
  return mod.exports;
}

const exits = new ChildExits();
function host(native: boolean): ExecHost {
  return {
    exits,
    posix: native
      ? nativeAddon
      : () => {
          throw new Error('no addon here');
        },
    nodePty: () => require('node-pty'),
  };
}

function collect(stream: Readable | undefined): () => string {
  const chunks: Buffer[] = [];
  stream?.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString();
}

const started: ExecProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) p.kill();
});

function run(native: boolean, script: string): ExecProcess {
  const proc = spawnPipes({ command: 'sh', file: '/bin/sh', args: ['-c', script], env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, cwd: process.cwd() }, host(native));
  started.push(proc);
  return proc;
}

describe.each([
  ['posix_spawn', true],
  ['child_process fallback', false],
])('exec on pipes (%s)', (_name, native) => {
  it('keeps stdout and stderr apart, feeds stdin to its end, reports the exit code', async () => {
    const proc = run(native, 'cat; echo err >&2; exit 3');
    const out = collect(proc.stdout);
    const err = collect(proc.stderr);
    expect(exits.owned().includes(proc.pid)).toBe(true);
    proc.write(Buffer.from('in\n'));
    proc.endInput();
    expect(await withDeadline(proc.exited, 5000, 'the exit')).toBe(3);
    await waitFor(() => out() === 'in\n' && err() === 'err\n', { what: () => `output ${JSON.stringify([out(), err()])}` });
    expect(exits.owned().includes(proc.pid)).toBe(false);
  });

  it('reports a death by signal as 128+N', async () => {
    const proc = run(native, 'kill -USR1 $$');
    expect(await withDeadline(proc.exited, 5000, 'the exit')).toBe(128 + 10);
  });

  it('kill() takes the command and what it started in the background', async () => {
    const proc = run(native, 'sleep 100 & echo $!; sleep 100');
    const out = collect(proc.stdout);
    await waitFor(() => /^\d+\n/.test(out()));
    const background = Number(out().trim());
    expect(isRunning(background)).toBe(true);
    proc.kill();
    expect(await withDeadline(proc.exited, 5000, 'the exit')).toBe(128 + 9);
    await waitFor(() => !isRunning(background), { timeoutMs: 1000, what: () => 'the background job to be gone' });
  });
});

// Only there: the fallback learns of the exit after libuv reaped the leader, when a job started
// just before can no longer be told from a stranger's (src/exec/kill.ts); session-kill.test.ts
// has the fallback's case, a job older than the last look at the leader.
describe('exec on pipes (posix_spawn only)', () => {
  it('when the command exits, what it left running in its session goes too', async () => {
    const proc = run(true, 'sleep 100 & echo $!');
    const out = collect(proc.stdout);
    expect(await withDeadline(proc.exited, 5000, 'the exit')).toBe(0);
    await waitFor(() => /^\d+\n/.test(out()), { what: () => 'the pid, still in the pipe after the exit' });
    const background = Number(out().trim());
    await waitFor(() => !isRunning(background), { timeoutMs: 1000, what: () => `the background job ${background} to be gone` });
  });
});
