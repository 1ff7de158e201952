// The addon's relay threads (native/relay.c through src/supervisor/native-relay.ts), driven
// directly: the output byte for byte whatever capture does, capture's copy with every gap
// counted when it falls behind, a file as our output, and a reader that goes away.
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, read, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PosixAddon } from '../../src/native/posix.js';
import { nativeRelay } from '../../src/supervisor/native-relay.js';
import type { TapEnd } from '../../src/supervisor/output.js';
import { ROOT, withDeadline } from '../helpers/run.js';

/** The addon as npm run build:native made it (the source tree's loader looks beside dist/). */
const posix = (): PosixAddon => createRequire(import.meta.url)(path.join(ROOT, 'native/build/Release/posix.node')) as PosixAddon;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'wp-native-relay-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `script` with its stdout on a pipe whose read end the relay takes, to `toFd`. */
function relayed(script: string, toFd: number, tap: TapEnd, limitBytes: number, { widePipe = false } = {}) {
  const native = posix();
  const [readFd, writeFd] = native.pipe();
  if (widePipe) native.widenPipe(writeFd); // 1 MiB, as the entrypoint gives the app
  const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
  let pid: number;
  try {
    pid = native.spawn('/bin/sh', ['sh', '-c', script], env, null, writeFd, 2);
  } finally {
    closeSync(writeFd);
  }
  const relay = nativeRelay(native, [[readFd, toFd, tap]], limitBytes);
  return { pid, relay, native };
}

/** Capture as the log side sees it: lines, gaps' line counts, the end. */
function recordingTap(onFirstBatch?: () => void) {
  const got = { bytes: 0, lines: 0, gapBytes: 0, gapLines: 0, gapMidLines: 0, gaps: 0, ended: false };
  let first = true;
  const tap: TapEnd = {
    tap(chunk) {
      if (first) {
        first = false;
        onFirstBatch?.();
      }
      got.bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) got.lines++;
    },
    gap(bytes, lines, midLine) {
      got.gaps++;
      got.gapBytes += bytes;
      got.gapLines += lines;
      if (midLine) got.gapMidLines++;
    },
    end() {
      got.ended = true;
    },
  };
  return { tap, got };
}

/**
 * Capture's batches (copies) and gaps (byte counts), in the order they came, are `data` with
 * each gap in its place, to its end.
 */
function expectCaptureOf(data: Buffer, events: Array<Buffer | number>): void {
  let at = 0;
  for (const e of events) {
    if (typeof e === 'number') at += e;
    else {
      expect(e.equals(data.subarray(at, at + e.length)), `capture's batch at ${at} (${e.length} bytes) is the output's bytes`).toBe(true);
      at += e.length;
    }
  }
  expect(at).toBe(data.length);
}

/**
 * Our slow reader: `fd` to its end, `chunkBytes` a read, resting `restMs(before, total)` ms
 * after each read (`before`: the bytes read until this one); all it read, within 60 s.
 */
function readSlowly(fd: number, chunkBytes: number, restMs: (before: number, total: number) => number): Promise<Buffer> {
  return withDeadline(
    (async () => {
      const got: Buffer[] = [];
      const chunk = Buffer.alloc(chunkBytes);
      for (let total = 0; ; ) {
        const n = await new Promise<number>((resolve, reject) => read(fd, chunk, 0, chunk.length, null, (err, bytes) => (err ? reject(err) : resolve(bytes))));
        if (n === 0) return Buffer.concat(got);
        got.push(Buffer.from(chunk.subarray(0, n)));
        const before = total;
        total += n;
        const ms = restMs(before, total);
        if (ms > 0) await new Promise((r) => setTimeout(r, ms));
      }
    })(),
    60_000,
    'our output read to its end',
  );
}

function reap(native: PosixAddon, pid: number): Promise<{ code: number | null; signal: number | null }> {
  return withDeadline(
    new Promise((resolve) => {
      const poll = setInterval(() => {
        const status = native.waitChild(pid);
        if (status) {
          clearInterval(poll);
          resolve(status);
        }
      }, 10);
    }),
    30_000,
    'the app to exit',
  );
}

describe('the native relay', () => {
  it('writes every byte to our output, and capture gets the same bytes when it keeps up', async () => {
    const out = path.join(dir, 'out');
    const outFd = openSync(out, 'w');
    const { tap, got } = recordingTap();
    const { pid, native, relay } = relayed('seq 1 200000', outFd, tap, 64 << 20);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 10_000);
    closeSync(outFd);
    const expected = Array.from({ length: 200_000 }, (_, i) => `${i + 1}\n`).join('');
    expect(readFileSync(out, 'utf8')).toBe(expected); // our output: a file, byte for byte
    expect(got).toMatchObject({ bytes: expected.length, lines: 200_000, gaps: 0, ended: true });
  });

  it('capture falling behind misses batches, counted line for line; the output loses nothing', async () => {
    const out = path.join(dir, 'out');
    const outFd = openSync(out, 'w');
    // The JavaScript thread is busy for 300 ms at the first batch: the app writes ~10 MB meanwhile.
    const { tap, got } = recordingTap(() => {
      const until = Date.now() + 300;
      while (Date.now() < until);
    });
    const { pid, native, relay } = relayed('seq -f "%09g" 1 1000000', outFd, tap, 64 * 1024);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 10_000);
    closeSync(outFd);
    expect(readFileSync(out).length).toBe(10_000_000);
    expect(got.gaps).toBeGreaterThan(0);
    // Every line is either in capture's copy or counted in a gap (a line cut by a gap's edge
    // counts in the gap that holds its newline, or as the gap's mid-line when it has none).
    expect(got.lines + got.gapLines).toBe(1_000_000);
    expect(got.ended).toBe(true);
  });

  it("capture's copy is the output's bytes, each gap in its place, through stalls and the buffers' reuse", async () => {
    const input = path.join(dir, 'in');
    const data = randomBytes(48 << 20);
    writeFileSync(input, data);
    const out = path.join(dir, 'out');
    const outFd = openSync(out, 'w');
    // A copy of each batch (the relay reuses its buffers), and the gaps, in the order they came.
    const events: Array<Buffer | number> = [];
    let batches = 0;
    const tap: TapEnd = {
      tap(chunk) {
        events.push(Buffer.from(chunk));
        // Now and then the JavaScript thread is busy: the relay fills the other buffer meanwhile.
        if (++batches % 5 === 0) {
          const until = Date.now() + 40;
          while (Date.now() < until);
        }
      },
      gap: (bytes) => events.push(bytes),
    };
    const { pid, native, relay } = relayed(`cat '${input}'`, outFd, tap, 4 << 20);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 20_000);
    closeSync(outFd);
    expect(readFileSync(out).equals(data)).toBe(true);
    expectCaptureOf(data, events);
    expect(events.some((e) => typeof e !== 'number')).toBe(true);
    // A file opened for writing takes splice: the burst went without copies.
    expect(relay.stats()[0].spliced).toBeGreaterThan(0);
  });

  it('our output a pipe whose reader stalls: the burst goes by splice, byte for byte, capture the same bytes', async () => {
    const input = path.join(dir, 'in');
    const data = randomBytes(50 << 20);
    writeFileSync(input, data);
    const [ourRead, ourWrite] = posix().pipe();
    const events: Array<Buffer | number> = [];
    const tap: TapEnd = { tap: (chunk) => void events.push(Buffer.from(chunk)), gap: (bytes) => void events.push(bytes) };
    const { pid, native, relay } = relayed(`cat '${input}'`, ourWrite, tap, 8 << 20);
    // Our reader: 1 MiB at a time, resting 100 ms after every 8 MiB (the relay's splice waits).
    const reading = readSlowly(ourRead, 1 << 20, (before, total) => (Math.floor(before / (8 << 20)) !== Math.floor(total / (8 << 20)) ? 100 : 0));
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 30_000);
    closeSync(ourWrite); // the relay closed its side of the app's pipe; ours now ends our output
    const output = await reading;
    closeSync(ourRead);
    expect(output.length).toBe(data.length);
    expect(output.equals(data), `our output is the app's bytes (first difference at ${output.findIndex((b, i) => b !== data[i])})`).toBe(true);
    expectCaptureOf(data, events);
    const [stats] = relay.stats();
    expect(stats.spliced + stats.written).toBe(data.length);
    expect(stats.spliced).toBeGreaterThan(data.length / 2);
  });

  it('drained() waits for every byte while our reader stalls past its idle wait, again and again', async () => {
    const input = path.join(dir, 'in');
    const data = randomBytes(4 << 20);
    writeFileSync(input, data);
    const [ourRead, ourWrite] = posix().pipe();
    const { tap } = recordingTap();
    // The app's pipe holds 1 MiB: much of the output is still on its way when the app exits.
    const { pid, native, relay } = relayed(`cat '${input}'`, ourWrite, tap, 8 << 20, { widePipe: true });
    // Our reader: 64 KiB, then 120 ms of nothing (longer than drained's 100 ms idle wait), over
    // again: each time the relay's blocked write ends, its batch waits a few ms for JavaScript.
    const reading = readSlowly(ourRead, 64 << 10, () => 120);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 30_000);
    // Resolved only once the relay had moved it all out: nothing of the app's left behind.
    const [stats] = relay.stats();
    expect(stats.spliced + stats.written).toBe(data.length);
    closeSync(ourWrite);
    const output = await reading;
    closeSync(ourRead);
    expect(output.equals(data)).toBe(true);
  });

  it('our output a file opened for appending (no splice there): the relay writes instead, byte for byte', async () => {
    const input = path.join(dir, 'in');
    const data = randomBytes(20 << 20);
    writeFileSync(input, data);
    const out = path.join(dir, 'out');
    writeFileSync(out, 'before\n');
    const outFd = openSync(out, 'a');
    const { tap, got } = recordingTap();
    const { pid, native, relay } = relayed(`cat '${input}'`, outFd, tap, 64 << 20);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 20_000);
    closeSync(outFd);
    expect(readFileSync(out).equals(Buffer.concat([Buffer.from('before\n'), data]))).toBe(true);
    expect(got).toMatchObject({ bytes: data.length, gaps: 0, ended: true });
    // splice refuses an O_APPEND file (EINVAL) before moving a byte: all of it was written.
    expect(relay.stats()).toMatchObject([{ spliced: 0, written: data.length }]);
  });

  it('a trickle of lines is written, not spliced (spliced pages would fill our reader\'s pipe nearly empty)', async () => {
    const out = path.join(dir, 'out');
    const outFd = openSync(out, 'w');
    const { tap, got } = recordingTap();
    const { pid, native, relay } = relayed('i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done', outFd, tap, 1 << 20);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 10_000);
    closeSync(outFd);
    expect(got.lines).toBe(200);
    expect(relay.stats()[0].spliced).toBe(0);
  });

  it('an app writing line by line is read in gulps of many lines, not woken for each (it pays for every wake-up)', async () => {
    const out = path.join(dir, 'out');
    const outFd = openSync(out, 'w');
    const { tap, got } = recordingTap();
    // 100 000 writes of 100 bytes, as fast as Node writes them one by one (~1 µs each): a
    // reader woken by each write takes one or a few lines per read.
    const writer = `${JSON.stringify(process.execPath)} -e 'const fs = require("fs"); const l = "x".repeat(99) + "\\n"; for (let i = 0; i < 100000; i++) fs.writeSync(1, l)'`;
    const { pid, native, relay } = relayed(writer, outFd, tap, 16 << 20, { widePipe: true });
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 20_000);
    closeSync(outFd);
    expect(readFileSync(out).length).toBe(100 * 100_000);
    expect(got).toMatchObject({ lines: 100_000, gaps: 0, ended: true });
    const [stats] = relay.stats();
    expect(stats.spliced + stats.written).toBe(100 * 100_000);
    // The relay rests a moment after each sizeable read that emptied the pipe (native/relay.c,
    // "Interrupt moderation"): at 1 µs a line that is about 200 lines a read, 500 in all.
    expect(stats.reads).toBeLessThan(10_000);
  });

  it('a line with nothing after it reaches capture within milliseconds, not at the end of the output', async () => {
    const outFd = openSync(path.join(dir, 'out'), 'w');
    let firstAt = 0;
    const { tap, got } = recordingTap(() => (firstAt = Date.now()));
    const { pid, native, relay } = relayed('echo one; exec sleep 3', outFd, tap, 1 << 20);
    try {
      // The relay calls JavaScript a few ms after the first byte of a batch, whatever comes next.
      await withDeadline(
        new Promise<void>((resolve) => {
          const poll = setInterval(() => got.lines > 0 && (clearInterval(poll), resolve()), 5);
        }),
        2_000,
        'the captured line',
      );
      expect(got.ended).toBe(false); // the app is still running: not delivered by its end
      expect(firstAt).toBeGreaterThan(0);
    } finally {
      process.kill(pid, 'SIGKILL');
      await reap(native, pid);
      await relay.drained(100, 10_000);
      closeSync(outFd);
    }
  });

  it('a burst reaches capture in batches of many writes, not one call per read', async () => {
    const out = path.join(dir, 'out');
    const outFd = openSync(out, 'w');
    let calls = 0;
    const { tap, got } = recordingTap();
    const counting: TapEnd = { ...tap, tap: (chunk) => (calls++, tap.tap(chunk)) };
    // 20 MB in writes of 4 KiB: a call per read would be thousands (~13 KB each was measured).
    const { pid, native, relay } = relayed('dd if=/dev/zero bs=4096 count=5000 status=none', outFd, counting, 8 << 20);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 10_000);
    closeSync(outFd);
    // All of it in capture's batches, or in a gap when the JavaScript thread fell behind (a
    // splicing relay outruns it more easily on a loaded machine).
    expect(got.bytes + got.gapBytes).toBe(4096 * 5000);
    expect(got.bytes).toBeGreaterThan(0);
    // Batches are called for at 256 KiB, or 4 ms after their first byte: far fewer calls than
    // reads even when the writer is slowed down by a busy machine.
    expect(calls).toBeLessThan(1000);
  });

  it("opens the fds it needs (its tee pipe) before relay() returns, and closes them at its end", async () => {
    const fds = () => readdirSync('/proc/self/fd').length;
    const outFd = openSync(path.join(dir, 'out'), 'w');
    const native = posix();
    const [readFd, writeFd] = native.pipe();
    const env = Object.entries(process.env).map(([k, v]) => `${k}=${v}`);
    const pid = native.spawn('/bin/sh', ['sh', '-c', 'sleep 0.3; head -c 1000000 /dev/zero'], env, null, writeFd, 2);
    closeSync(writeFd);
    const before = fds();
    const relay = nativeRelay(native, [[readFd, outFd, recordingTap().tap]], 1 << 20);
    // Counted at once, not by the relay's thread some time later: a caller counting its fds
    // (as exec's tests do) sees them all from the start.
    const during = fds();
    await new Promise((r) => setTimeout(r, 100));
    expect(fds()).toBe(during);
    expect(during).toBe(before + 2);
    expect(await reap(native, pid)).toEqual({ code: 0, signal: null });
    await relay.drained(100, 10_000);
    // The app's pipe (its read end was the relay's) and the tee pipe are closed.
    await withDeadline(
      (async () => {
        while (fds() !== before - 1) await new Promise((r) => setTimeout(r, 10));
      })(),
      5_000,
      `the relay's fds closed (${fds()} open, ${before - 1} expected)`,
    );
    closeSync(outFd);
  });

  it('our reader gone (EPIPE): the app meets SIGPIPE, as it would writing there itself', async () => {
    const [ourRead, ourWrite] = posix().pipe();
    const { tap, got } = recordingTap();
    const { pid, native, relay } = relayed('exec yes', ourWrite, tap, 1 << 20);
    closeSync(ourRead); // nobody reads our output
    expect(await reap(native, pid)).toEqual({ code: null, signal: 13 });
    await relay.drained(100, 10_000);
    closeSync(ourWrite);
    expect(got.ended).toBe(true);
  });
});
