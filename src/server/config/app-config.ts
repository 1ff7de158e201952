// server/config/ owns how a config change reaches the instances: the rules it must pass, what
// it weighs, how app and global vars combine, and the bounded push on each config stream.
//
// App config as a service: validate a change, store it, and push the new full config at once to
// every connected instance whose effective config it changed (a global change: every app's;
// an app change: that app's). A change that leaves an app's config as it was (the same value
// again, a global var the app overrides) is not pushed to it: there is nothing new to apply.
import type { EntrypointConfigResponse } from '../../protocol/generated/hashicorp/waypoint/EntrypointConfigResponse.js';
import { configFor, type AppSettings } from './message.js';
import { growsNothing, weigh, weightProblem } from './limits.js';
import { resolve, type StoredVar, type ViewedVar, view } from './resolve.js';
import { type ConfigKind, nameProblem, parseSignalName, valueProblem } from '../../rules/config.js';
import type { ConfigStore, VarChange } from '../store/store.js';
import type { InstanceRegistry } from '../instances/registry.js';
import type { Actor } from '../audit.js';
import type { ServerLog } from '../log.js';
import { failedPrecondition, invalidArgument, RpcError, Status } from '../rpc/status.js';
import { APP_NAME } from '../../rules/names.js';
import { type Deployment, type Store, StoreError } from '../store/store.js';

export interface ConfigView {
  vars: ViewedVar[];
  fileChangeSignal: string;
}

export class AppConfig {
  constructor(
    private readonly store: Store,
    private readonly config: ConfigStore,
    private readonly registry: InstanceRegistry,
    private readonly log: ServerLog,
  ) {}

  /** The first message of an instance's config stream, and every one after. */
  messageFor(deployment: Deployment): EntrypointConfigResponse {
    return configFor(deployment, this.settings(deployment.app));
  }

  /** Sets and unsets vars of one scope ('' global); returns how many instances got a push. */
  change(app: string, set: VarChange[], unset: string[], actor?: Actor): number {
    checkScope(app);
    checkChange(set, unset);
    this.checkLimits(app, set, unset);
    const pushed = this.pushing(app === '' ? undefined : app, () => {
      try {
        this.config.apply(app, set, unset);
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
  setFileChangeSignal(app: string, signal: string, actor?: Actor): number {
    if (app === '') throw invalidArgument('the file change signal belongs to an app: name one');
    checkScope(app);
    const parsed = parseSignalName(signal);
    if (!parsed.ok) throw invalidArgument(parsed.problem);
    const pushed = this.pushing(app, () => this.config.setFileChangeSignal(app, parsed.signal));
    this.log.info('file change signal set', { event: 'config.signal', app, signal: parsed.signal || '(none)', pushed, ...actor });
    return pushed;
  }

  appExists(app: string): boolean {
    return this.config.appExists(app);
  }

  /** The vars that reach an app (overridden globals marked), or the global ones for ''. */
  view(app: string): ConfigView {
    if (app !== '') checkScope(app);
    const globals = this.config.vars('');
    if (app === '') return { vars: view(globals, []), fileChangeSignal: '' };
    return { vars: view(globals, this.config.vars(app)), fileChangeSignal: this.config.fileChangeSignal(app) };
  }

  private settings(app: string): AppSettings {
    return { vars: resolve(this.config.vars(''), this.config.vars(app)), fileChangeSignal: this.config.fileChangeSignal(app) };
  }

  /**
   * Runs `mutate` and pushes to the live instances of `app` (undefined: of every app) whose
   * config it changed. All synchronous: no instance can register between before and after.
   */
  private pushing(app: string | undefined, mutate: () => void): number {
    const live = app === undefined ? this.registry.list() : this.registry.list({ app });
    const apps = new Set(live.map((i) => i.app));
    const before = new Map([...apps].map((a) => [a, fingerprint(this.settings(a))]));
    mutate();
    let pushed = 0;
    for (const a of apps) {
      const settings = this.settings(a);
      if (fingerprint(settings) === before.get(a)) continue;
      const deployments = new Map<string, Deployment | undefined>();
      for (const { info, sink } of this.registry.ofApp(a)) {
        if (!deployments.has(info.deploymentId)) deployments.set(info.deploymentId, this.store.deployment(info.deploymentId));
        const deployment = deployments.get(info.deploymentId);
        if (!deployment) continue;
        sink.send(configFor(deployment, settings));
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
  private checkLimits(app: string, set: VarChange[], unset: string[]): void {
    const before = this.config.vars(app);
    const scope = new Map(before.map((v) => [v.name, v]));
    for (const name of unset) scope.delete(name);
    for (const v of set) scope.set(v.name, { app, ...v, updatedAt: 0 });
    const after = [...scope.values()];
    if (app !== '') {
      const globals = this.config.vars('');
      return this.checkApp(app, { globals, own: after }, { globals, own: before });
    }
    this.checkApp(undefined, { globals: after, own: [] }, { globals: before, own: [] });
    for (const name of this.config.apps()) {
      const own = this.config.vars(name);
      this.checkApp(name, { globals: after, own }, { globals: before, own });
    }
  }

  private checkApp(app: string | undefined, after: Scopes, before: Scopes): void {
    const signal = app === undefined ? '' : this.config.fileChangeSignal(app);
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
  return JSON.stringify([settings.fileChangeSignal, settings.vars.map((v) => [v.name, v.kind, v.value.toString('base64')])]);
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
    const problem = nameProblem(v.kind, v.name) ?? valueProblem(v.kind, v.name, v.value);
    if (problem) throw invalidArgument(problem);
    once(v.name);
  }
  for (const name of unset) {
    if (name === '') throw invalidArgument('unset needs names');
    once(name);
  }
}
