// Applies each config the server sends: our log level at once, files written (then the file
// change signal, no restart), the app's env updated, and a restart requested when the env
// changed. Dynamic vars go to the resolver (dynamic/, a chunk loaded only when a config has
// one), and each change of their values applies the latest config again. Warnings (an unknown
// internal reference, a bad level or signal name) are given once each, not on every message.
import type { EntrypointConfig__Output } from '../protocol/generated/hashicorp/waypoint/EntrypointConfig.js';
import type { Logger } from '../log.js';
import { type LogLevel, parseLogLevel, SettingsError } from '../settings.js';
import type { AppEnv } from './app-env.js';
import { ConfigFiles, fileRootFor } from './files.js';
import type { DynamicVar } from './dynamic/merge.js';
import type { DynamicResolver, VarStatus } from './dynamic/resolver.js';
import { dynamicVars, LOG_LEVEL_VAR, resolveConfig } from './resolve.js';
import { FILE_SIGNAL_REFUSED, parseSignalName } from './signal.js';

export interface ConfigApplierOptions {
  appEnv: AppEnv;
  logger: Logger;
  /** Where relative file names are resolved: our working directory (also the app's). */
  cwd: string;
  /** WAYPOINT_CEB_FILE_ROOT: config files confined to it (see files.ts). */
  fileRoot?: string;
  /** WAYPOINT_CEB_DISABLE_EXEC: without a file root, files confined to `cwd`. */
  disableExec: boolean;
  /** Our level when the config sets none (WAYPOINT_LOG_LEVEL of our own environment). */
  defaultLogLevel: LogLevel;
  /** The app's env changed. */
  onEnvChanged(): void;
  /** Sends a signal to the running app; false when no app runs (yet). */
  signalApp(signal: NodeJS.Signals): boolean;
  /** Each new state of the dynamic vars (never their values). */
  onDynamicStatus?(status: VarStatus[]): void;
}

interface DynamicParts {
  resolver: DynamicResolver;
  mergeSources: typeof import('./dynamic/merge.js').mergeSources;
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** How long a config's static changes may wait for its new dynamic vars' first read. */
export const HOLD_MS = 2_000;

/** Bounds the memory of "already warned" (a server could send endless distinct names). */
const MAX_REMEMBERED_WARNINGS = 1000;

export class ConfigApplier {
  private readonly files: ConfigFiles;
  private readonly warned = new Set<string>();
  private logLevel: LogLevel;

  private latest?: EntrypointConfig__Output;
  private dynamic?: Promise<DynamicParts | undefined>;
  private resolver?: DynamicResolver;
  private parts?: DynamicParts;
  private firstApplied = false;
  private markSettled!: () => void;
  private readonly settledPromise = new Promise<void>((resolve) => (this.markSettled = resolve));
  private closed = false;

  constructor(private readonly options: ConfigApplierOptions) {
    this.files = new ConfigFiles(options.cwd, fileRootFor(options, options.cwd));
    this.logLevel = options.defaultLogLevel;
  }

  apply(config: EntrypointConfig__Output): void {
    this.latest = config;
    const dynamic = dynamicVars(config.env_vars ?? []);
    // The dynamic chunk is loaded only for a config with dynamic vars: a static-only run never
    // reads it. Once loaded, every config goes to it (vars removed end their sources).
    const round = dynamic.length > 0 || this.dynamic ? this.updateDynamic(config, dynamic) : undefined;
    // A later config that brings dynamic vars not read yet: its static changes wait for that
    // first read (at most HOLD_MS), so that the app restarts once for both, not twice.
    if (this.firstApplied && round && (this.resolver ? this.resolver.awaitsReads() : dynamic.length > 0)) this.hold(round);
    else this.applyLatest();
    if (!this.firstApplied) {
      this.firstApplied = true;
      void (round ?? Promise.resolve()).then(this.markSettled);
    }
  }

  /** Resolves once the first config, its first dynamic reads included, has been applied. */
  settled(): Promise<void> {
    return this.settledPromise;
  }

  close(): void {
    this.closed = true;
    void this.dynamic?.then((d) => d?.resolver.close());
  }

  private updateDynamic(config: EntrypointConfig__Output, vars: DynamicVar[]): Promise<void> {
    // Once loaded, the resolver takes the config at once (apply() then knows what it awaits).
    if (this.parts) return this.updateWith(this.parts, config, vars);
    this.dynamic ??= this.loadDynamic();
    return this.dynamic.then((d) => (d ? this.updateWith(d, config, vars) : undefined));
  }

  private async updateWith(d: DynamicParts, config: EntrypointConfig__Output, vars: DynamicVar[]): Promise<void> {
    if (this.closed) return;
    await d.resolver.update(vars, d.mergeSources(config.config_sources ?? []));
    if (config === this.latest) this.applyLatest();
  }

  /** Applies the latest config when `round` is read, or after HOLD_MS at the latest. */
  private hold(round: Promise<void>): void {
    const timer = setTimeout(() => this.applyLatest(), HOLD_MS);
    timer.unref();
    void round.then(() => clearTimeout(timer));
  }

  private async loadDynamic(): Promise<DynamicParts | undefined> {
    try {
      const chunk = await import('./dynamic/index.js');
      const resolver = new chunk.DynamicResolver({
        logger: this.options.logger,
        env: process.env,
        onValues: () => this.applyLatest(),
        onStatus: (status) => this.options.onDynamicStatus?.(status),
      });
      this.resolver = resolver;
      this.parts = { resolver, mergeSources: chunk.mergeSources };
      return this.parts;
    } catch (err) {
      this.options.logger.error(`dynamic config cannot be read: its code did not load (${(err as Error)?.message}); dynamic vars are left out`);
      return undefined;
    }
  }

  /** The latest config with the dynamic values as they are now. */
  private applyLatest(): void {
    const config = this.latest;
    if (!config || this.closed) return;
    const values = this.dynamicValues();
    const resolved = resolveConfig(config.env_vars ?? [], values);
    this.applyLogLevel(resolved.logLevel);
    for (const { name, ref } of resolved.unknownRefs) {
      this.warnOnce(`ref:${name}:${ref}`, `config var ${name} references \${config.internal.${ref}}, which is not set; it reads as empty`, {});
    }
    for (const { name, reason } of resolved.badNames) {
      this.warnOnce(`name:${name}`, `config var not given to the app: ${reason}`, { name });
    }
    this.applyFiles(resolved.files, config.file_change_signal);
    const changed = this.options.appEnv.update(resolved.env);
    this.options.logger.debug('config applied', { env_changed: changed, dynamic_values: values.size || undefined });
    if (changed) this.options.onEnvChanged();
  }

  private dynamicValues(): Map<string, string> {
    return this.resolver?.values() ?? new Map();
  }

  private applyLogLevel(value: string | undefined): void {
    let level = this.options.defaultLogLevel;
    if (value !== undefined) {
      try {
        level = parseLogLevel(LOG_LEVEL_VAR, value);
      } catch (err) {
        if (!(err instanceof SettingsError)) throw err;
        this.warnOnce(`level:${value}`, `config ${err.message}; our log level is left as it is`, {});
        return;
      }
    }
    if (level === this.logLevel) return;
    // Said at the more verbose of the two levels, so that it shows whichever way it goes.
    const quieter = LEVELS.indexOf(level) > LEVELS.indexOf(this.logLevel);
    const say = () => this.options.logger.info('log level changed by the config', { level });
    if (quieter) say();
    this.logLevel = level;
    this.options.logger.setLevel(level);
    if (!quieter) say();
  }

  private applyFiles(files: ReturnType<typeof resolveConfig>['files'], signalName: string): void {
    if (files.length === 0) return;
    const { written, failed, refused } = this.files.write(files);
    for (const f of failed) this.options.logger.error('cannot write a config file', { path: f.path, error: f.error });
    for (const f of refused) this.warnOnce(`file:${f.path}`, `config file not written: ${f.reason}`, { path: f.path });
    if (written.length === 0) return;
    this.options.logger.info('config files written', { count: written.length, paths: written.join(',') });
    if (!signalName) return;
    const signal = parseSignalName(signalName);
    if (!signal) {
      this.warnOnce(`signal:${signalName}`, 'unknown file_change_signal; the app is not signalled', { signal: signalName });
      return;
    }
    // Our server refuses these at `config set`; a foreign one might not.
    if (FILE_SIGNAL_REFUSED.includes(signal)) {
      this.warnOnce(`signal:${signal}`, `file_change_signal ${signal} refused: the app could not handle it; the app is not signalled`, {});
      return;
    }
    if (this.options.signalApp(signal)) this.options.logger.debug('app signalled for its new files', { signal });
  }

  private warnOnce(key: string, message: string, fields: Record<string, string>): void {
    if (this.warned.has(key)) return;
    if (this.warned.size >= MAX_REMEMBERED_WARNINGS) this.warned.clear();
    this.warned.add(key);
    this.options.logger.warn(message, fields);
  }
}
