// The fault suite's short form (scripts/fault/run.mjs): 10 server SIGKILL/restart cycles, a
// 45 s silent partition (keepalive needs up to 40 s to notice one: src/connection/dial.ts), the
// server's data disk full. About 2 minutes; the full form (100 cycles, 60 s) is run by hand.
import { afterEach, describe, expect, it } from 'vitest';
import path from 'node:path';
import { cleanEnv, killAll, ROOT, type Running, start, withDeadline } from '../helpers/run.js';

const SCRIPT = path.join(ROOT, 'scripts/fault/run.mjs');
let suite: Running | undefined;

afterEach(async () => {
  // SIGTERM first: the script then kills what it started and unmounts its tmpfs itself.
  if (suite && suite.proc.exitCode === null && suite.proc.signalCode === null) {
    suite.proc.kill('SIGTERM');
    await withDeadline(suite.exited, 10_000, 'the fault suite to clean up').catch(() => undefined);
  }
  killAll();
});

describe('fault suite (short form)', () => {
  it('survives server kills, a silent partition and a full data disk with the app untouched', async () => {
    suite = start([SCRIPT, '--cycles', '10', '--partition', '45'], { bin: process.execPath, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = await withDeadline(suite.exited, 280_000, 'the fault suite');
    const output = `${suite.stdout().toString()}${suite.stderr().toString()}`;
    // On failure: the failed checks, then the figures (the table) as the message.
    const failed = output.split('\n').filter((l) => /^(FAILED: |fault: )/.test(l) && !/^fault: (\d|all checks)/.test(l));
    const at = output.indexOf('| what |');
    const table = at >= 0 ? output.slice(at) : output;
    expect(failed, table).toEqual([]);
    expect(output, table).toMatch(/\| cycles survived \| 10\/10 \|/);
    expect(output, table).toContain('fault: all checks passed');
    expect(exit.code, table).toBe(0);
  }, 300_000);
});
