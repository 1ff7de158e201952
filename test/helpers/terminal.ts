// A program on a pseudo-terminal of its own, as a person at a keyboard runs it: what it writes
// is collected, keys are written, the size can change. Call `closeTerminals()` in afterEach.
import * as pty from 'node-pty';
import { cleanEnv, waitFor } from './run.js';

export interface Terminal {
  term: pty.IPty;
  output(): string;
  /** The program's exit code. */
  exited: Promise<number>;
  waitFor(text: string | RegExp, timeoutMs?: number): Promise<void>;
}

export interface TerminalOptions {
  cols?: number;
  rows?: number;
  /** TERM, for the terminal's name and in the env. */
  term?: string;
  /** The whole environment (TERM is added); default a clean one. */
  env?: NodeJS.ProcessEnv;
}

const open = new Set<pty.IPty>();

export function openTerminal(bin: string, args: string[], opts: TerminalOptions = {}): Terminal {
  const name = opts.term ?? 'xterm';
  const term = pty.spawn(bin, args, {
    name,
    cols: opts.cols ?? 100,
    rows: opts.rows ?? 30,
    cwd: process.cwd(),
    env: { ...(opts.env ?? cleanEnv()), TERM: name } as Record<string, string>,
  });
  open.add(term);
  let out = '';
  term.onData((d) => (out += d));
  const exited = new Promise<number>((resolve) =>
    term.onExit(({ exitCode }) => {
      open.delete(term);
      resolve(exitCode);
    }),
  );
  return {
    term,
    output: () => out,
    exited,
    waitFor: (text, timeoutMs = 10_000) =>
      waitFor(() => (typeof text === 'string' ? out.includes(text) : text.test(out)), {
        timeoutMs,
        what: () => `${String(text)} on the terminal; got ${JSON.stringify(out.slice(-400))}`,
      }),
  };
}

/** For afterEach: kills every program still on a terminal. */
export function closeTerminals(): void {
  for (const term of open) {
    try {
      term.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
  open.clear();
}
