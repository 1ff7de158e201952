// Interactive use: on a terminal (`docker run -it img bash`) the app behaves as without us —
// prompt, line editing, Ctrl-C reaching the job inside the shell and not the shell itself.
import { closeSync, constants, openSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ENTRYPOINT, waitFor, withDeadline } from '../helpers/run.js';
import { closeTerminals, openTerminal } from '../helpers/terminal.js';

afterEach(closeTerminals);

/** bash without rc files, with a prompt we can wait for. */
const BASH = ['bash', '--norc', '--noprofile', '-i'];
/** Split by quotes so that the echo of this line never looks like the prompt itself. */
const SET_PROMPT = "PS1='PRO''MPT> '\r";

describe('on a terminal', () => {
  it('gives the app a terminal of its own: tty is a /dev/pts device and isatty holds', async () => {
    const s = openTerminal(ENTRYPOINT, ['sh', '-c', 'tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys']);
    expect(await withDeadline(s.exited, 10_000, 'exit')).toBe(0);
    expect(s.output()).toMatch(/\/dev\/pts\/\d+/);
    expect(s.output()).toContain('all-ttys');
  });

  it('shows the shell prompt and applies line editing (cursor left, backspace)', async () => {
    const s = openTerminal(ENTRYPOINT, BASH);
    s.term.write(SET_PROMPT);
    await s.waitFor('PROMPT> ');
    // Typed "echo abc", cursor left once, "Z", Ctrl-E (end of line), backspace: "abZ".
    s.term.write('echo abc\x1b[DZ\x05\x7f\r');
    await s.waitFor(/[\r\n]abZ\r\n/);
    s.term.write('exit 0\r');
    expect(await withDeadline(s.exited, 10_000, 'exit')).toBe(0);
  });

  it('Ctrl-C interrupts the command running in the shell, not the shell', async () => {
    const s = openTerminal(ENTRYPOINT, BASH);
    s.term.write(SET_PROMPT);
    await s.waitFor('PROMPT> ');
    s.term.write('echo started; sleep 100; echo after-sleep\r');
    await s.waitFor(/[\r\n]started\r\n/); // the echo ran: sleep is the foreground job now
    s.term.write('\x03');
    s.term.write('echo status-$?\r');
    await s.waitFor('status-130');
    expect(s.output()).not.toMatch(/[\r\n]after-sleep/);
    s.term.write('exit 5\r');
    expect(await withDeadline(s.exited, 10_000, 'exit')).toBe(5);
  });

  it('passes the window size, and a resize reaches the app', async () => {
    const s = openTerminal(ENTRYPOINT, BASH, { cols: 91, rows: 27 });
    s.term.write(SET_PROMPT);
    await s.waitFor('PROMPT> ');
    s.term.write('stty size\r');
    await s.waitFor('27 91');
    s.term.resize(120, 40);
    // The new size travels: this terminal, SIGWINCH to the entrypoint, the app's terminal. A
    // command typed meanwhile may still see the old one (a busy machine): ask until the new shows.
    await waitFor(
      () => {
        if (s.output().includes('40 120')) return true;
        s.term.write('stty size\r');
        return false;
      },
      { timeoutMs: 10_000, intervalMs: 500, what: () => `40 120 on the terminal; got ${JSON.stringify(s.output())}` },
    );
    s.term.write('exit\r');
    expect(await withDeadline(s.exited, 10_000, 'exit')).toBe(0);
  });

  it('returns the exit status of a command that fails', async () => {
    const s = openTerminal(ENTRYPOINT, ['sh', '-c', 'exit 3']);
    expect(await withDeadline(s.exited, 10_000, 'exit')).toBe(3);
  });

  it('delivers every byte the app writes just before it exits', async () => {
    // Linux drops a terminal's unread output when its last slave fd closes: the entrypoint holds
    // one of the app's terminal until its output went quiet (src/supervisor/pty-output.ts). Ours,
    // between the entrypoint and this test, has the same problem: this test holds a slave of it.
    const size = 3 * 1024 * 1024;
    for (let run = 0; run < 3; run++) {
      const s = openTerminal(ENTRYPOINT, ['sh', '-c', `head -c ${size} /dev/zero | tr '\\0' x; exit 3`]);
      const slave = openSync((s.term as unknown as { ptsName: string }).ptsName, constants.O_RDWR | constants.O_NOCTTY);
      const xs = () => (s.output().match(/x{64,}/g) ?? []).reduce((sum, run) => sum + run.length, 0);
      // A reader that keeps stalling: the entrypoint's writes to us block, output piles up on the
      // app's terminal, and some of it is unread when the app exits.
      let exited = false; // reported by node-pty 200 ms after its reap: what was read by then is all
      void s.exited.then(() => (exited = true));
      const stalls = setInterval(() => {
        s.term.pause();
        setTimeout(() => s.term.resume(), 5);
      }, 10);
      try {
        await waitFor(() => xs() >= size || exited, { timeoutMs: 20_000, what: () => `${size} bytes (got ${xs()})` });
      } finally {
        clearInterval(stalls);
        s.term.resume();
        closeSync(slave);
      }
      expect(await withDeadline(s.exited, 10_000, 'exit')).toBe(3);
      expect(xs()).toBe(size);
    }
  });
});
