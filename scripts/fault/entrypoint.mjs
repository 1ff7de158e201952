// The entrypoint under test: the npm bundle's launcher (bin/waypoint-entrypoint) in front of the
// writer app, connected with an invite from `waypoint-ctl deployment create`. Its own log lines
// (stderr) are stamped with our clock as they arrive: they say when it lost and regained the
// server, which is what the line accounting needs.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { cleanEnv, ROOT } from '../bench/lib.mjs';
import { childPids, isRunning, startTicks, track, waitFor } from './processes.mjs';

export const ENTRYPOINT = path.join(ROOT, 'bin/waypoint-entrypoint');
const WRITER = path.join(ROOT, 'scripts/fault/writer.mjs');

export const CONNECTED = /: info: connected to the server\b.*\binstance_id=(\S+)/;
export const LOST = /: warn: lost the server connection; reconnecting\b(?:.*\breason=("(?:[^"\\]|\\.)*"|\S+))?/;

export class Entrypoint {
  /**
   * @param {{ bin?: string, env: Record<string, string>, ledger?: string, intervalMs: number }} opts
   *   bin: the entrypoint (default the bundle's launcher); env: what `deployment create --json`
   *   printed for an instance.
   */
  constructor({ bin = ENTRYPOINT, env, ledger, intervalMs }) {
    const childEnv = cleanEnv({ ...env, FAULT_INTERVAL_MS: String(intervalMs), ...(ledger ? { FAULT_LEDGER: ledger } : {}) });
    this.proc = track(spawn(bin, [process.execPath, WRITER], { env: childEnv, stdio: ['ignore', 'ignore', 'pipe'] }));
    this.pid = this.proc.pid;
    /** Each of its log lines: { t, text }. */
    this.events = [];
    this.instanceId = undefined;
    this.exit = undefined;
    this.proc.once('exit', (code, signal) => (this.exit = { code, signal, t: Date.now() }));
    let partial = '';
    this.proc.stderr.on('data', (chunk) => {
      const t = Date.now();
      const lines = (partial + chunk).split('\n');
      partial = lines.pop();
      for (const text of lines) {
        this.events.push({ t, text });
        const m = CONNECTED.exec(text);
        if (m) this.instanceId = m[1];
      }
    });
  }

  alive() {
    return this.exit === undefined;
  }

  /** Events after `since` (ms) whose text matches `pattern`. */
  eventsSince(since, pattern) {
    return this.events.filter((e) => e.t >= since && pattern.test(e.text));
  }

  /** The first event matching `pattern` at or after `since`, waited for up to `timeoutMs`. */
  waitEvent(since, pattern, timeoutMs) {
    return waitFor(() => this.eventsSince(since, pattern)[0], { timeoutMs });
  }

  /** The app: its pid and start time, once the entrypoint has started it. */
  async app(timeoutMs = 15_000) {
    const pid = await waitFor(() => childPids(this.pid).find((p) => isRunning(p)), { timeoutMs });
    if (pid === undefined) throw new Error(`the entrypoint started no app within ${timeoutMs} ms: ${this.tail()}`);
    return { pid, ticks: startTicks(pid) };
  }

  /** Its last log lines, for error messages. */
  tail(n = 8) {
    return this.events
      .slice(-n)
      .map((e) => e.text)
      .join(' | ');
  }

  /** SIGTERM (it stops its app), SIGKILL after `graceMs`. */
  async stop(graceMs = 5_000) {
    if (!this.alive()) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
