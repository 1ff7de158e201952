// The pipe reader's framed reads (exec output): every chunk at most maxRead, with `headroom`
// bytes before it in its buffer that no other chunk uses, the bytes whole and in order, binary,
// also when the reader stalls while the writer fills the pipe.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PosixAddon } from '../../../src/native/posix.js';
import { pipeReader } from '../../../src/supervisor/pipe-reader.js';
import { ROOT, withDeadline } from '../../helpers/run.js';

const posix = (): PosixAddon => createRequire(import.meta.url)(path.join(ROOT, 'native/build/Release/posix.node')) as PosixAddon;

describe('framed pipe reads', () => {
  it('chunks of at most maxRead, each with free room before it, bytes exact and in order, through a stall', async () => {
    const [readFd, writeFd, capacity] = posix().pipe();
    const reader = pipeReader(readFd, capacity, { maxRead: 64 * 1024, headroom: 10 });
    const payload = randomBytes(3 * 1024 * 1024 + 17);
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve) => reader.on('end', resolve));
    let stalled = false;
    reader.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!stalled && chunks.length === 3) {
        stalled = true; // the writer meets a full pipe meanwhile
        reader.pause();
        setTimeout(() => reader.resume(), 200);
      }
    });
    // Another process writes (cat of a file): it blocks on the full pipe while we stall.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wp-pipe-reader-'));
    const file = path.join(dir, 'payload');
    writeFileSync(file, payload);
    const writer = spawn('cat', [file], { stdio: ['ignore', writeFd, 'inherit'] });
    closeSync(writeFd);
    const exited = new Promise((resolve) => writer.once('exit', resolve));
    try {
      await withDeadline(done, 30_000, 'the reader to end');
      expect(await exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    for (const [i, c] of chunks.entries()) {
      expect(c.length).toBeLessThanOrEqual(64 * 1024);
      expect(c.byteOffset).toBeGreaterThanOrEqual(10);
      const prev = chunks[i - 1];
      if (prev && prev.buffer === c.buffer) expect(prev.byteOffset + prev.length).toBeLessThanOrEqual(c.byteOffset - 10);
    }
  });
});
