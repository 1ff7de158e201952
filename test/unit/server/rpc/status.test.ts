// How the server answers what its handlers throw: a full disk is the operator's to fix
// (RESOURCE_EXHAUSTED, a warning), anything else unexpected is our bug (INTERNAL, an error).
import { describe, expect, it } from 'vitest';
import type { ServerLog } from '../../../../src/server/log.js';
import { reported, Status, toRpcError } from '../../../../src/server/rpc/status.js';

function recorder() {
  const lines: string[] = [];
  const at = (level: string) => (message: string) => void lines.push(`${level}: ${message}`);
  const log: ServerLog = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

describe('toRpcError', () => {
  it('D1: SQLite\'s "database or disk is full" and the OS\'s ENOSPC/EDQUOT are RESOURCE_EXHAUSTED, with what to do', () => {
    for (const code of ['SQLITE_FULL', 'ENOSPC', 'EDQUOT']) {
      const err = Object.assign(new Error('database or disk is full'), { code });
      const e = toRpcError(err);
      expect(e.code, code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(e.message).toBe("the server's data dir is out of disk space: nothing was changed; free some space (or grow the disk) and retry");
    }
    expect(toRpcError(Object.assign(new Error('boom'), { code: 'SQLITE_CORRUPT' })).code).toBe(Status.INTERNAL);
  });

  it('D1: logs a full disk as a warning, a bug as an error', () => {
    const { log, lines } = recorder();
    reported(log, Object.assign(new Error('x'), { code: 'SQLITE_FULL' }), 'SetConfig');
    reported(log, new Error('boom'), 'SetConfig');
    expect(lines).toEqual([
      "warn: SetConfig failed: the server's data dir is out of disk space: nothing was changed; free some space (or grow the disk) and retry",
      'error: SetConfig failed',
    ]);
  });
});
