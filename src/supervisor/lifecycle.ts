// The app across restarts. A restart we cause (new config env) stops the child gracefully and
// starts it again; that child's exit is not the app's end. The app's end is an exit we did not
// ask for (a crash or a clean exit: never restarted, the scheduler decides) or the exit after
// a stop signal, even one that arrives in the middle of a restart.
//
// A restart never leaves the instance without an app: an env the app cannot start with (its
// command not on the new PATH, more env than exec takes) is refused before the running app is
// touched, and an app that still fails to start after the old one stopped is started again with
// the env it last ran with. Either is one error line (shipped to the server) and a status (the
// server shows it beside the instance); an env refused is not tried again until the config
// changes.
import { changedNames, sameEnv } from '../config/app-env.js';
import type { Logger } from '../log.js';
import { type RunningChild, SpawnError } from './child.js';
import type { Supervisor } from './supervisor.js';

/**
 * What became of the app's config: RUNNING with the env the config asks for, CONFIG_REFUSED
 * (that env refused before the app was touched), RESTART_FAILED (it failed after the stop; the
 * app runs again with the env that worked). The message names vars, never their values.
 */
export interface AppStatus {
  state: 'RUNNING' | 'CONFIG_REFUSED' | 'RESTART_FAILED';
  message: string;
  /** ms since the epoch: when it entered the state, or (RUNNING) when the app last restarted into it */
  since: number;
}

export type AppStatusListener = (status: AppStatus) => void;

export class AppLifecycle {
  private child?: RunningChild;
  /** The env the current child was started with: the last env that worked. */
  private startedEnv?: Record<string, string>;
  /** The last env refused or failed: not tried again while it is what the config asks for. */
  private refusedEnv?: Record<string, string>;
  /** Children we are stopping for a restart: their exit is expected. */
  private readonly replacing = new Set<RunningChild>();
  private stopSignal?: NodeJS.Signals;
  private restarting?: Promise<void>;
  private current?: AppStatus;
  private readonly statusListeners = new Set<AppStatusListener>();
  private resolveEnded!: (status: number) => void;
  /** The exit status we should exit with: resolves once, when the app has ended for good. */
  readonly ended: Promise<number>;

  constructor(
    private readonly supervisor: Supervisor,
    private readonly logger: Logger,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  get started(): boolean {
    return this.child !== undefined;
  }

  get stopRequested(): boolean {
    return this.stopSignal !== undefined;
  }

  /** The env the running child got (undefined before the first start). */
  get env(): Record<string, string> | undefined {
    return this.startedEnv;
  }

  /**
   * The env exec sessions and the URL service go by: the config's, except while it is refused
   * (the app runs on with its previous env, and a session must see what the app sees).
   */
  effectiveEnv(configEnv: Record<string, string>): Record<string, string> {
    return this.startedEnv && sameEnv(configEnv, this.refusedEnv) ? this.startedEnv : configEnv;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The app's status (undefined before the first start). */
  get status(): AppStatus | undefined {
    return this.current;
  }

  /** Every change of status (the current one at once, if any); returns an unsubscribe function. */
  onStatus(listener: AppStatusListener): () => void {
    this.statusListeners.add(listener);
    if (this.current) this.tell(listener, this.current);
    return () => this.statusListeners.delete(listener);
  }

  /** The first start. Throws SpawnError (126/127) when the command cannot run. */
  async start(env: Record<string, string>): Promise<void> {
    await this.spawn(env);
    this.setStatus('RUNNING');
    if (this.stopSignal) void this.supervisor.stop(this.stopSignal);
  }

  /**
   * Graceful stop (signal, stop timeout, SIGKILL) then a start with `env`, unless the app runs
   * with it already or it was refused before. A stop requested meanwhile wins: no new child.
   * Resolves when the new child runs (or the old one still does, or the app has ended).
   */
  restart(env: Record<string, string>): Promise<void> {
    if (this.restarting) return this.restarting.then(() => this.restart(env));
    const old = this.child;
    if (!old || this.stopSignal) return Promise.resolve();
    if (sameEnv(env, this.startedEnv)) {
      this.refusedEnv = undefined; // back to what runs: the next change is judged afresh
      this.setStatus('RUNNING');
      return Promise.resolve();
    }
    if (sameEnv(env, this.refusedEnv)) return Promise.resolve();
    this.restarting = this.replace(old, env).finally(() => (this.restarting = undefined));
    return this.restarting;
  }

  /** A stop signal (SIGTERM/SIGINT): passed on; the app's exit is then its end. */
  stop(signal: NodeJS.Signals): void {
    this.stopSignal ??= signal;
    void this.supervisor.stop(signal);
  }

  forward(signal: NodeJS.Signals): void {
    this.supervisor.forward(signal);
  }

  private async replace(old: RunningChild, env: Record<string, string>): Promise<void> {
    const running = this.startedEnv!;
    const names = changedNames(running, env).join(', ');
    const problem = this.supervisor.check(env);
    if (problem) {
      this.refusedEnv = env;
      this.logger.error(`config env not applied, the app keeps running with its current env: ${problem}`, { changed: names });
      this.setStatus('CONFIG_REFUSED', `config env not applied: ${problem}; the app keeps running with its current env (changed: ${names})`);
      return;
    }
    this.logger.info('restarting the app', { reason: `config env changed: ${names}`, pid: old.pid });
    this.replacing.add(old);
    const status = await this.supervisor.stop('SIGTERM');
    this.replacing.delete(old);
    if (this.stopSignal) {
      this.resolveEnded(status);
      return;
    }
    try {
      await this.spawn(env);
    } catch (err) {
      this.refusedEnv = env;
      const why = (err as Error).message;
      this.logger.error(`restart failed: ${why}; starting the app again with the env it last ran with`, { changed: names });
      if (await this.startAgain(running)) {
        this.setStatus('RESTART_FAILED', `restart failed: ${why}; the app runs again with the env it last ran with (changed: ${names})`);
      }
      return;
    }
    this.refusedEnv = undefined;
    // A new status even after RUNNING: the server (and the console) learn when it restarted.
    this.setStatus('RUNNING', '', { restarted: true });
    if (this.stopSignal) void this.supervisor.stop(this.stopSignal);
  }

  /** After a failed restart: the env that worked. Only if that fails too is the app's end ours. */
  private async startAgain(env: Record<string, string>): Promise<boolean> {
    try {
      await this.spawn(env);
    } catch (err) {
      this.logger.error(`the app cannot be started again either: ${(err as Error).message}`);
      this.resolveEnded(err instanceof SpawnError ? err.exitCode : 1);
      return false;
    }
    if (this.stopSignal) void this.supervisor.stop(this.stopSignal);
    return true;
  }

  /** A new status, told to the listeners when it differs from the current one. */
  private setStatus(state: AppStatus['state'], message = '', { restarted = false } = {}): void {
    if (!restarted && this.current?.state === state && this.current.message === message) return;
    const status: AppStatus = { state, message, since: Date.now() };
    this.current = status;
    for (const listener of this.statusListeners) this.tell(listener, status);
  }

  /** A listener's failure (a reporter's bug) must not break a restart. */
  private tell(listener: AppStatusListener, status: AppStatus): void {
    try {
      listener(status);
    } catch (err) {
      this.logger.error('reporting the app status failed', { error: (err as Error)?.message ?? String(err) });
    }
  }

  private async spawn(env: Record<string, string>): Promise<void> {
    const child = await this.supervisor.start(env);
    this.child = child;
    this.startedEnv = env;
    void child.exited.then((status) => {
      // Replaced by a restart: not the app's end. Otherwise (a crash, a clean exit, a stop)
      // it is, unless a newer child already took its place.
      if (this.replacing.has(child) || this.child !== child) return;
      this.logger.debug('app exited', { pid: child.pid, status });
      this.resolveEnded(status);
    });
  }
}
