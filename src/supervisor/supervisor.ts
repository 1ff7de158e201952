// The app's process: start it (pipes, or a terminal when we run on one), pass signals on, stop
// it with a grace period then SIGKILL to its whole process group. Never a restart because it
// crashed: that is the scheduler's call, not ours (restarts for new config: lifecycle.ts).
import type { Logger } from '../log.js';
import type { ChildExits } from './child-exits.js';
import { type ChildSpec, type RunningChild, SpawnError } from './child.js';
import { EXIT_NOT_EXECUTABLE, resolveCommand } from './command.js';
import { posix } from '../native/posix.js';
import { execSizeProblem } from './exec-limits.js';
import type { Relay, TapEnd } from './output.js';
import { type OutputMode, spawnWithPipes } from './spawn-pipes.js';
import { attachTerminal, restoreTerminal, terminalSize } from './terminal.js';

export interface SupervisorOptions {
  /** The command and its arguments, verbatim. */
  argv: string[];
  cwd: string;
  stopTimeoutMs: number;
  /** Forward signals to the child's process group instead of the child alone. */
  signalGroup: boolean;
  /** Run the child on a pseudo-terminal wired to ours (we are on a terminal). */
  terminal: boolean;
  /**
   * Without a terminal: 'relay' the app's output through us (log capture sees it), or 'direct',
   * the app writing to our stdout and stderr itself as under tini (nobody reads a copy).
   */
  output: OutputMode;
  logger: Logger;
  /** The process's one SIGCHLD dispatcher: the app's pid is owned there. */
  exits: ChildExits;
}

/** Log capture: sees the app's output as it is relayed (stdout carries both on a terminal). */
export interface OutputTaps {
  stdout: TapEnd;
  stderr: TapEnd;
}

/** How long the output may trickle in after the child exited; see Relay.drained. */
const OUTPUT_IDLE_MS = 100;
const OUTPUT_MAX_MS = 2000;

export class Supervisor {
  private child?: RunningChild;
  private output?: Relay;
  /** The child whose grace period runs (its SIGKILL timer is set). */
  private stopping?: RunningChild;
  private taps?: () => OutputTaps;

  constructor(private readonly options: SupervisorOptions) {}

  /** Taps the output of every child started from now on (`taps` is asked at each start). */
  tapOutput(taps: () => OutputTaps): void {
    this.taps = taps;
  }

  get running(): RunningChild | undefined {
    return this.child;
  }

  /**
   * Why the app could not be started with `env`, found without starting it: its command not on
   * the env's PATH, or more env than exec takes. Undefined when nothing stands in the way.
   */
  check(env: Record<string, string>): string | undefined {
    const [command] = this.options.argv;
    const found = resolveCommand(command, env.PATH, this.options.cwd);
    if (!found.ok) return `${command}: ${found.reason}`;
    const problem = execSizeProblem({ file: found.path, argv: this.options.argv, env });
    return problem && `${command}: ${problem}`;
  }

  /** Starts the app with `env`. Throws SpawnError (exit code 126/127) when it cannot start. */
  async start(env: Record<string, string>): Promise<RunningChild> {
    const [command, ...args] = this.options.argv;
    const found = resolveCommand(command, env.PATH, this.options.cwd);
    if (!found.ok) throw new SpawnError(`${command}: ${found.reason}`, found.exitCode);
    const spec: ChildSpec = { command, file: found.path, args, env, cwd: this.options.cwd };
    let child: RunningChild;
    try {
      // node-pty and the relay's streams load only when used: disabled mode's start-up skips them.
      child = this.options.terminal
        ? (await import('./spawn-terminal.js')).spawnWithTerminal(spec, terminalSize(), env.TERM || 'xterm', this.options.exits)
        : await spawnWithPipes(spec, this.options.logger, this.options.exits, this.options.output);
    } catch (err) {
      if (err instanceof SpawnError) throw err;
      // Out of descriptors, a terminal that cannot be made: the app did not start all the same.
      throw new SpawnError(`${command}: ${(err as Error).message}`, EXIT_NOT_EXECUTABLE);
    }
    this.child = child;
    this.output = await this.relayOutput(child);
    if (this.options.terminal) attachTerminal(child, this.options.logger);
    this.options.logger.debug('app started', { pid: child.pid, command });
    return child;
  }

  /**
   * Our stdout and stderr, fed from the child's output: its pipes by the addon's threads, or its
   * streams (a terminal's, the fallback's socket pairs) by the JavaScript relay; tapped.
   */
  private async relayOutput(child: RunningChild): Promise<Relay | undefined> {
    const taps = this.taps?.();
    // On a terminal stderr is the pty too, and in direct mode neither stream passes us: a tap
    // that never gets a byte ends now instead of being left behind at each restart.
    if (child.outputFds) {
      const { nativeRelay } = await import('./native-relay.js');
      const fds = child.outputFds;
      return nativeRelay(posix(), [
        [fds.stdout, 1, taps?.stdout],
        [fds.stderr, 2, taps?.stderr],
      ]);
    }
    if (!child.stdout) taps?.stdout.end?.();
    if (!child.stderr) taps?.stderr.end?.();
    if (!child.stdout) return undefined;
    const [{ relay }, { ourOutput }] = await Promise.all([import('./output.js'), import('./fd-writer.js')]);
    const ours = ourOutput();
    return child.stderr
      ? relay([
          [child.stdout, ours.stdout, taps?.stdout],
          [child.stderr, ours.stderr, taps?.stderr],
        ])
      : relay([[child.stdout, ours.stdout, taps?.stdout]]);
  }

  /** Passes a signal on: to the child, or its whole group with WAYPOINT_CEB_SIGNAL_GROUP. */
  forward(signal: NodeJS.Signals): void {
    // On a terminal the child has a terminal of its own, resized by terminal.ts.
    if (signal === 'SIGWINCH' && this.options.terminal) return;
    this.child?.kill(signal, this.options.signalGroup);
  }

  /**
   * Stops the app: `signal` now, SIGKILL to its process group (grandchildren too) when the stop
   * timeout runs out. Resolves with its exit status.
   */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number> {
    const child = this.child;
    if (!child) return Promise.resolve(0);
    this.forward(signal);
    // One grace period per child, from the first stop: a second SIGTERM does not extend it.
    if (this.stopping !== child) {
      this.stopping = child;
      const timer = setTimeout(() => {
        this.options.logger.warn('app did not stop in time; sending SIGKILL to its process group', {
          pid: child.pid,
          timeout_ms: this.options.stopTimeoutMs,
        });
        child.kill('SIGKILL', true);
      }, this.options.stopTimeoutMs);
      void child.exited.then(() => clearTimeout(timer));
    }
    return child.exited;
  }

  /** After the child exited: let its last output through, bounded in time. */
  async flushOutput(): Promise<void> {
    await this.output?.drained(OUTPUT_IDLE_MS, OUTPUT_MAX_MS);
    if (this.options.terminal) restoreTerminal(this.options.logger);
  }
}
