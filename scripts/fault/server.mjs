// The real reference server (`waypoint-ctl server run`) as the fault suite drives it: on
// 127.0.0.1, the same ports and data dir at every start, killed with SIGKILL, stopped with
// SIGSTOP. The ctl runs against it through its context file; the checks that poll use the same
// Control API in-process (a ctl per poll would steal the CPU the entrypoint needs).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { cleanEnv, controlClient, ROOT } from '../bench/lib.mjs';
import { track } from './processes.mjs';

export const CTL = path.join(ROOT, 'bin/waypoint-ctl');
/** The server's output kept for error messages: the tail only, however many restarts. */
const OUTPUT_TAIL = 16 * 1024;

/** Whether `port` can be bound on 127.0.0.1 right now. */
function canBind(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range: the server gives its ports up at every kill,
 * and a port from that range could meanwhile be taken by any process on the machine that binds
 * port 0 or connects out (it happened: a 100-cycle run lost its HTTP port at cycle 58).
 */
export async function freePort() {
  let low = 32_768;
  try {
    low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || low;
  } catch {
    /* not Linux: the usual default */
  }
  const base = 10_000;
  for (let tries = 0; tries < 100; tries++) {
    const port = base + Math.floor(Math.random() * Math.max(1, low - base));
    if (await canBind(port)) return port;
  }
  throw new Error(`no free port found in ${base}-${low - 1}`);
}

/** Runs the ctl to completion: { code, stdout, stderr }. */
export function runCtl(args, env, timeoutMs = 30_000) {
  return new Promise((resolve) => {
    const child = track(spawn(CTL, args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal, stdout, stderr });
    });
  });
}

export class FaultServer {
  /** @param {{ dataDir: string, configHome: string, port: number, httpPort: number }} opts */
  constructor(opts) {
    this.opts = opts;
    this.addr = `127.0.0.1:${opts.port}`;
    this.env = cleanEnv({ XDG_CONFIG_HOME: opts.configHome });
    this.proc = undefined;
    this.output = '';
    this.operatorToken = undefined;
    this.starts = 0;
  }

  /** Starts it and resolves once it listens; rejects with its output if it exits or hangs first. */
  async start({ timeoutMs = 20_000 } = {}) {
    const { dataDir, port, httpPort } = this.opts;
    const args = ['server', 'run', '--listen', this.addr, '--http-listen', `127.0.0.1:${httpPort}`, '--data-dir', dataDir];
    const proc = track(spawn(CTL, args, { env: this.env, stdio: ['ignore', 'pipe', 'pipe'] }));
    this.proc = proc;
    this.starts++;
    let out = '';
    const keep = (c) => {
      out += c;
      this.output = (this.output + c).slice(-OUTPUT_TAIL);
    };
    proc.stdout.on('data', keep);
    proc.stderr.on('data', keep);
    proc.exitedAt = new Promise((resolve) => proc.once('exit', () => resolve(Date.now())));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the server did not listen within ${timeoutMs} ms: ${out.trim()}`)), timeoutMs);
      const check = () => {
        // The operator token is printed when the data dir is new; later starts keep it.
        const token = /operator token (\S+)/.exec(out);
        if (token) this.operatorToken = token[1];
        if (/listening on 127\.0\.0\.1:\d+/.test(out) && this.operatorToken) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout.on('data', check);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`the server exited (${code ?? signal}) before listening: ${out.trim()}`));
      });
    });
    return Date.now();
  }

  get pid() {
    return this.proc?.pid;
  }

  running() {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGKILL, as a crash or an OOM kill does; resolves once it has exited. */
  async kill9() {
    if (!this.running()) return;
    const proc = this.proc;
    proc.kill('SIGCONT'); // a stopped process dies of SIGKILL too, but say so plainly
    proc.kill('SIGKILL');
    await proc.exitedAt;
  }

  /** A silent partition: the process stops answering, its sockets stay open. */
  pause() {
    this.proc.kill('SIGSTOP');
  }

  resume() {
    this.proc.kill('SIGCONT');
  }

  ctl(args, timeoutMs) {
    return runCtl(args, this.env, timeoutMs);
  }

  /** The Control API on this incarnation; close() it before the server goes away. */
  control() {
    return controlClient(this.addr, this.operatorToken);
  }
}
