// The app's output relay (src/supervisor/output.ts) across restarts: our stdout/stderr writers
// live as long as we do, one relay per child; a relay that ended leaves nothing on them (L7).
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { relay } from '../../../src/supervisor/output.js';
import { waitFor } from '../../helpers/run.js';

/** A long-lived writer, slow enough that writes queue and 'drain' listeners get added. */
function slowWriter(): Writable & { got: Buffer[] } {
  const got: Buffer[] = [];
  const w = new Writable({
    highWaterMark: 4,
    write(chunk: Buffer, _enc, done) {
      got.push(chunk);
      setImmediate(done);
    },
  }) as Writable & { got: Buffer[] };
  w.got = got;
  return w;
}

describe('relay', () => {
  it('L7: 20 children relayed in turn to one writer: listener counts stay flat, no MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const out = slowWriter();
      const err = slowWriter();
      const baseline = { error: out.listenerCount('error'), drain: out.listenerCount('drain') };
      for (let i = 0; i < 20; i++) {
        const stdout = new PassThrough();
        const stderr = new PassThrough();
        const r = relay([
          [stdout, out],
          [stderr, err],
        ]);
        stdout.write(`out ${i} ${'x'.repeat(64)}\n`);
        stderr.write(`err ${i}\n`);
        stdout.end();
        stderr.end();
        await r.drained(20, 2000);
        expect(out.listenerCount('error')).toBe(baseline.error);
        expect(out.listenerCount('drain')).toBe(baseline.drain);
        expect(err.listenerCount('error')).toBe(baseline.error);
      }
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      expect(Buffer.concat(out.got).toString().split('\n').filter(Boolean)).toHaveLength(20);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('while a relay runs, an error of the writer still closes the child\'s pipe (EPIPE passed on)', async () => {
    const out = slowWriter();
    const from = new PassThrough();
    relay([[from, out]]);
    out.emit('error', new Error('EPIPE'));
    expect(from.destroyed).toBe(true);
  });

  it('tells the tap when its stream is held back for a full writer and when it flows again', async () => {
    const out = slowWriter();
    const from = new PassThrough();
    const told: boolean[] = [];
    const r = relay([[from, out, { tap: () => undefined, held: (h) => told.push(h) }]]);
    from.write('a'.repeat(64));
    await waitFor(() => told.length === 2, { what: () => `held, then flowing; told ${JSON.stringify(told)}` });
    expect(told).toEqual([true, false]);
    from.end();
    await r.drained(20, 2000);
  });
});
