// server/config/ owns how a config change reaches the instances: the rules it must pass, what
// it weighs, how app and global vars combine, and the bounded push on each config stream.
//
// App config as a service: validate a change, store it, and push the new full config at once to
// every connected instance whose effective config it changed (a global change: every app's;
// an app change: that app's). A change that leaves an app's config as it was (the same value
// again, a global var the app overrides) is not pushed to it: there is nothing new to apply.
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { configFor, type AppSettings, sourceHash } from './message.js';
import { growsNothing, weigh, weightProblem } from './limits.js';
import { resolve, type StoredVar, type ViewedVar, view } from './resolve.js';
import { type ConfigKind, nameProblem, parseSignalName, valueProblem } from '../../rules/config.js';
import type { ConfigStore, StoredSource, VarChange } from '../store/store.js';
import type { ConfigSink, InstanceRegistry } from '../instances/registry.js';
import type { Actor } from '../audit.js';
import type { ServerLog } from '../log.js';
import { failedPrecondition, invalidArgument, RpcError, Status } from '../rpc/status.js';
import { APP_NAME } from '../../rules/names.js';
import { maskSettings, settingsProblem, sourceTypeProblem } from '../../rules/dynamic.js';
import { type Deployment, type Store, StoreError } from '../store/store.js';

/** Instances a push writes to before it lets the loop send what is written. */
const WRITES_PER_TURN = 500;

export interface ConfigView {
  vars: ViewedVar[];
  fileChangeSignal: string;
}

export class AppConfig {
  /** Changes made by this server, one at a time: a change's checks, write and push see no other. */
  private serial: Promise<unknown> = Promise.resolve();
  /** Numbers each read of an app's settings: an instance never gets a read older than one it got. */
  private reads = 0;
  private readonly sent = new WeakMap<ConfigSink, { read: number; message: EntrypointConfigResponse; print: string }>();
  /** Per deployment id: the first config its last instance got, and the settings it came from. */
  private readonly lastFirst = new Map<string, { print: string; message: EntrypointConfigResponse }>();
  /** Told of every change made here, once stored (before its push here): the other replicas push it to theirs meanwhile. */
  onChanged: ((app: string | undefined) => void) | undefined;

  constructor(
    private readonly store: Store,
    private readonly config: ConfigStore,
    private readonly registry: InstanceRegistry,
    private readonly log: ServerLog,
  ) {}

  /**
   * Sends an instance its config as stored now: its first message, after it registered. A read
   * that fails ends the stream (the entrypoint reconnects); it never throws.
   */
  async sendConfig(deployment: Deployment, sink: ConfigSink): Promise<void> {
    try {
      const read = ++this.reads;
      const { message, print } = await this.firstFor(deployment);
      this.deliver(sink, read, message, print);
    } catch (err) {
      this.log.warn('config not sent: the store could not be read', { app: deployment.app, error: (err as Error).message });
      sink.close(new RpcError(Status.UNAVAILABLE, `the server could not read the config of app ${deployment.app}: reconnect`));
    }
  }

  /** The config an instance of `deployment` gets, as stored now. */
  async messageFor(deployment: Deployment): Promise<EntrypointConfigResponse> {
    return (await this.firstFor(deployment)).message;
  }

  private async firstFor(deployment: Deployment): Promise<{ message: EntrypointConfigResponse; print: string }> {
    const settings = await this.settings(deployment.app);
    return { message: this.firstMessage(deployment, settings), print: fingerprint(settings) };
  }

  /**
   * A change made by another replica (`app` undefined: a global one, or a resync): pushed to the
   * instances here whose config it changed, in turn with the changes made here.
   */
  refresh(app: string | undefined): Promise<number> {
    return this.serially(() => this.pushChanged(app));
  }

  /**
   * Sends an instance again the config it last got (each message lists its pending exec
   * requests as it goes out). False when it has had none yet: its first one lists them.
   */
  resend(sink: ConfigSink): boolean {
    const last = this.sent.get(sink);
    if (last) sink.send(last.message);
    return last !== undefined;
  }

  /** Sets and unsets vars of one scope ('' global); returns how many instances got a push. */
  async change(app: string, set: VarChange[], unset: string[], actor?: Actor): Promise<number> {
    checkScope(app);
    checkChange(set, unset);
    const pushed = await this.pushing(app === '' ? undefined : app, async () => {
      await this.checkLimits(app, set, unset);
      try {
        await this.config.apply(app, set, unset);
      } catch (err) {
        if (err instanceof StoreError) throw new RpcError(Status.NOT_FOUND, err.message);
        throw err;
      }
    });
    // Names and kinds for the audit trail, never values (an internal one is a secret).
    const scope = { scope: app || 'global', app: app || undefined };
    if (set.length > 0) this.log.info('config set', { event: 'config.set', ...scope, names: set.map((v) => v.name), kinds: set.map((v) => v.kind), pushed, ...actor });
    if (unset.length > 0) this.log.info('config unset', { event: 'config.unset', ...scope, names: unset, pushed, ...actor });
    return pushed;
  }

  /** '' clears it. Returns how many instances got a push. */
  async setFileChangeSignal(app: string, signal: string, actor?: Actor): Promise<number> {
    if (app === '') throw invalidArgument('the file change signal belongs to an app: name one');
    checkScope(app);
    const parsed = parseSignalName(signal);
    if (!parsed.ok) throw invalidArgument(parsed.problem);
    const pushed = await this.pushing(app, () => this.config.setFileChangeSignal(app, parsed.signal));
    this.log.info('file change signal set', { event: 'config.signal', app, signal: parsed.signal || '(none)', pushed, ...actor });
    return pushed;
  }

  /** Sets a config source's settings in a scope ('' global); returns how many instances got a push. */
  async setSource(app: string, type: string, settings: Record<string, string>, actor?: Actor): Promise<number> {
    checkScope(app);
    const problem = sourceTypeProblem(type) ?? settingsProblem(settings, `the ${type} source`);
    if (problem) throw invalidArgument(problem);
    const pushed = await this.pushing(app === '' ? undefined : app, () => this.config.setSource(app, type, settings));
    // Setting names only: their values may be tokens.
    this.log.info('config source set', { event: 'config.source.set', scope: app || 'global', app: app || undefined, type, keys: Object.keys(settings).sort(), pushed, ...actor });
    return pushed;
  }

  async unsetSource(app: string, type: string, actor?: Actor): Promise<number> {
    checkScope(app);
    if (!(await this.config.sources(app)).some((s) => s.type === type)) {
      throw new RpcError(Status.NOT_FOUND, `no ${type} source is set ${app === '' ? 'globally' : `for app ${app}`}: nothing to unset`);
    }
    const pushed = await this.pushing(app === '' ? undefined : app, async () => {
      await this.config.unsetSource(app, type);
    });
    this.log.info('config source unset', { event: 'config.source.unset', scope: app || 'global', app: app || undefined, type, pushed, ...actor });
    return pushed;
  }

  /** The sources that reach an app (global ones it overrides marked), or the global ones; secrets masked. */
  async sourcesView(app: string): Promise<Array<StoredSource & { overridden: boolean }>> {
    if (app !== '') checkScope(app);
    const globals = await this.config.sources('');
    const own = app === '' ? [] : await this.config.sources(app);
    const ownTypes = new Set(own.map((s) => s.type));
    return [...own.map((s) => ({ ...s, overridden: false })), ...globals.map((s) => ({ ...s, overridden: ownTypes.has(s.type) }))]
      .map((s) => ({ ...s, settings: maskSettings(s.settings) }))
      .sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : (a.app === '' ? 1 : 0) - (b.app === '' ? 1 : 0)));
  }

  async appExists(app: string): Promise<boolean> {
    return this.config.appExists(app);
  }

  /** The vars that reach an app (overridden globals marked), or the global ones for ''. */
  async view(app: string): Promise<ConfigView> {
    if (app !== '') checkScope(app);
    const globals = await this.config.vars('');
    if (app === '') return { vars: view(globals, []), fileChangeSignal: '' };
    return { vars: view(globals, await this.config.vars(app)), fileChangeSignal: await this.config.fileChangeSignal(app) };
  }

  private async settings(app: string): Promise<AppSettings> {
    const [globals, own, fileChangeSignal] = await Promise.all([this.config.vars(''), this.config.vars(app), this.config.fileChangeSignal(app)]);
    const vars = resolve(globals, own);
    // The sources only matter to an app with a dynamic var (only then are they sent).
    const sources = vars.some((v) => v.dynamicFrom !== undefined)
      ? [...(await this.config.sources('')), ...(app === '' ? [] : await this.config.sources(app))]
      : [];
    return { vars, fileChangeSignal, sources };
  }

  /**
   * The config message of a deployment with these settings: the one its instances got last when
   * the settings are the same, so that a fleet registering holds (and encodes) one, not one each.
   */
  private firstMessage(deployment: Deployment, settings: AppSettings): EntrypointConfigResponse {
    const print = fingerprint(settings);
    const last = this.lastFirst.get(deployment.id);
    if (last?.print === print) return last.message;
    const message = configFor(deployment, settings);
    this.lastFirst.set(deployment.id, { print, message });
    return message;
  }

  /** Sends `message` (from read number `read`) unless the instance already got a later read. */
  private deliver(sink: ConfigSink, read: number, message: EntrypointConfigResponse, print: string): void {
    const last = this.sent.get(sink);
    if (last && last.read > read) return;
    this.sent.set(sink, { read, message, print });
    sink.send(message);
  }

  /**
   * Runs `mutate` (after the changes of this server before it), tells the other replicas (they
   * push to theirs while this one pushes), then pushes to the live instances of `app`
   * (undefined: of every app) whose config it changed.
   */
  private pushing(app: string | undefined, mutate: () => Promise<void>): Promise<number> {
    return this.serially(async () => {
      await mutate();
      this.onChanged?.(app);
      return this.pushChanged(app);
    });
  }

  private serially<T>(run: () => Promise<T>): Promise<T> {
    const result = this.serial.then(run);
    this.serial = result.catch(() => undefined);
    return result;
  }

  /**
   * Sends the config as stored now to every live instance of `app` (undefined: of every app)
   * whose last config came from other settings. An instance that registered meanwhile gets it
   * too (its first read may predate the change); every read is numbered, so a push never loses
   * to an older read sent late.
   */
  private async pushChanged(app: string | undefined): Promise<number> {
    const apps = app === undefined ? this.registry.apps() : [app];
    let pushed = 0;
    for (const a of apps) {
      const live = this.registry.ofApp(a);
      if (live.length === 0) continue;
      const read = ++this.reads;
      const settings = await this.settings(a);
      const print = fingerprint(settings);
      // One message per deployment, shared by its instances (and encoded once: service.ts).
      const messages = new Map<string, EntrypointConfigResponse | undefined>();
      let sinceYield = 0;
      for (const { info, sink } of live) {
        if (this.sent.get(sink)?.print === print) continue;
        // The writes go out while the push goes on (node:http2 sends a session's data at the
        // next turn of the loop), not all after the last of a fleet's instances was written.
        if (++sinceYield > WRITES_PER_TURN) {
          sinceYield = 0;
          await new Promise((resolve) => setImmediate(resolve));
        }
        if (!messages.has(info.deploymentId)) {
          const deployment = await this.store.deployment(info.deploymentId);
          messages.set(info.deploymentId, deployment && configFor(deployment, settings));
        }
        const message = messages.get(info.deploymentId);
        if (!message) continue;
        this.deliver(sink, read, message, print);
        pushed++;
      }
    }
    return pushed;
  }

  /**
   * Every app the change reaches must still be able to start and get its config: its expanded
   * env within Linux's exec limits, its config message within the gRPC limit (limits.ts).
   * An app change is checked for that app; a global one for every app, and for an app with no
   * config of its own yet. A config already over (stored before these checks) may still be
   * changed as long as it grows no measure: unsetting vars is how the operator gets out.
   */
  private async checkLimits(app: string, set: VarChange[], unset: string[]): Promise<void> {
    const before = await this.config.vars(app);
    const scope = new Map(before.map((v) => [v.name, v]));
    for (const name of unset) scope.delete(name);
    for (const v of set) scope.set(v.name, { app, ...v, updatedAt: 0 });
    const after = [...scope.values()];
    if (app !== '') {
      const globals = await this.config.vars('');
      return this.checkApp(app, { globals, own: after }, { globals, own: before });
    }
    await this.checkApp(undefined, { globals: after, own: [] }, { globals: before, own: [] });
    for (const name of await this.config.apps()) {
      const own = await this.config.vars(name);
      await this.checkApp(name, { globals: after, own }, { globals: before, own });
    }
  }

  private async checkApp(app: string | undefined, after: Scopes, before: Scopes): Promise<void> {
    const signal = app === undefined ? '' : await this.config.fileChangeSignal(app);
    const weight = weigh(resolve(after.globals, after.own), signal);
    const problem = weightProblem(weight, app === undefined ? 'an app with only the global vars' : `app ${app}`);
    if (problem && !growsNothing(weigh(resolve(before.globals, before.own), signal), weight)) {
      throw failedPrecondition(`config not changed: ${problem}`);
    }
  }
}

interface Scopes {
  globals: StoredVar[];
  own: StoredVar[];
}

function fingerprint(settings: AppSettings): string {
  return JSON.stringify([
    settings.fileChangeSignal,
    settings.vars.map((v) => [v.name, v.kind, v.dynamicFrom ?? null, v.value.toString('base64')]),
    settings.sources.map((s) => [s.app, s.type, sourceHash(s)]),
  ]);
}

/** '' (the global scope) or a valid app name; INVALID_ARGUMENT otherwise (the console's app filters too). */
export function checkScope(app: string): void {
  if (app !== '' && !APP_NAME.test(app)) {
    throw invalidArgument(`invalid app name ${JSON.stringify(app)}: use letters, digits, '.', '_' or '-' (at most 63)`);
  }
}

const KINDS: readonly ConfigKind[] = ['static', 'internal', 'file'];

function checkChange(set: VarChange[], unset: string[]): void {
  if (set.length === 0 && unset.length === 0) throw invalidArgument('nothing to change: give vars to set or unset');
  const seen = new Set<string>();
  const once = (name: string) => {
    if (seen.has(name)) throw invalidArgument(`${JSON.stringify(name)} appears twice in one change`);
    seen.add(name);
  };
  for (const v of set) {
    if (!KINDS.includes(v.kind)) throw invalidArgument(`unknown config kind ${JSON.stringify(v.kind)}`);
    const problem = nameProblem(v.kind, v.name) ?? (v.dynamicFrom === undefined ? valueProblem(v.kind, v.name, v.value) : dynamicProblem(v));
    if (problem) throw invalidArgument(problem);
    once(v.name);
  }
  for (const name of unset) {
    if (name === '') throw invalidArgument('unset needs names');
    once(name);
  }
}

/** A dynamic var: a known source type, and its own config a JSON object of strings. */
function dynamicProblem(v: VarChange): string | undefined {
  const typeProblem = sourceTypeProblem(v.dynamicFrom ?? '');
  if (typeProblem) return typeProblem;
  let config: unknown;
  try {
    config = JSON.parse(v.value.toString('utf8'));
  } catch {
    return `the config of dynamic var ${v.name} is not a JSON object`;
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return `the config of dynamic var ${v.name} is not a JSON object`;
  if (Object.keys(config).length === 0) return `dynamic var ${v.name} needs its config (KEY=VALUE settings, e.g. path=... for vault)`;
  return settingsProblem(config as Record<string, string>, `dynamic var ${v.name}`);
}
