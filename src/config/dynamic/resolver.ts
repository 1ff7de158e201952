// Resolves a config's dynamic variables in-process (issue 15). One slot per source type in use:
// its source made lazily (module loaded, settings applied), its variables read together (equal
// requests sent once), again 500 ms after a config change settles, then every 15 s with jitter
// (so a fleet does not hit its Vault at one moment), and whenever the source asks
// (`context.refresh()`: a Consul blocking query returned, a lease is ending). Values follow the
// error policy of policy.ts; each distinct failure is one log line naming the variable, the
// source type and the backend's message. `onValues` is called when the values the app gets
// changed; `onStatus` when a variable's state did (never with values).
import type { Logger } from '../../log.js';
import { type DynamicVar, type Settings, settingsKey } from './merge.js';
import { applyResult, CONSEQUENCE_TEXT, failureToLog, newState, redefined, type VarState } from './policy.js';
import { loadSource } from './registry.js';
import type { DynamicRequest, DynamicResult, DynamicSource, SourceFactory } from './source.js';

export const QUIET_MS = 500;
export const REFRESH_MS = 15_000;
/** Each wait between refreshes is REFRESH_MS ± this. */
export const REFRESH_JITTER_MS = 3_000;
/** A read with no answer by then fails as `transient` (and is aborted). */
export const READ_TIMEOUT_MS = 30_000;
/** A variable's status is re-reported for a newer resolution time at most this often. */
const STATUS_TIME_EVERY_MS = 60_000;

export interface VarStatus {
  name: string;
  source: string;
  ok: boolean;
  /** The failure, one line; '' when ok. */
  message: string;
  /** ms since the epoch; undefined when never resolved. */
  resolvedAt?: number;
}

export interface ResolverOptions {
  logger: Logger;
  /** Our environment, for the sources' usual variables (VAULT_ADDR...). */
  env: NodeJS.ProcessEnv;
  onValues(): void;
  onStatus(status: VarStatus[]): void;
  load?: (type: string) => Promise<SourceFactory>;
  /** [0, 1), injectable for tests. */
  random?: () => number;
}

interface Slot {
  type: string;
  settings: Settings;
  key: string;
  vars: DynamicVar[];
  source?: DynamicSource;
  abort: AbortController;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  again: boolean;
  /** Waiting for the first read of the config that made this slot or changed it. */
  waiters: Array<() => void>;
}

export class DynamicResolver {
  private readonly slots = new Map<string, Slot>();
  private readonly states = new Map<string, VarState>();
  private defs = new Map<string, string>();
  private reported = new Map<string, { ok: boolean; message: string; at: number }>();
  private closed = false;
  private first = true;

  constructor(private readonly options: ResolverOptions) {}

  /**
   * A new config's dynamic vars and merged source settings. Resolves once every source whose
   * vars or settings it changed has been read (the first config: read at once; later ones after
   * QUIET_MS of no newer config).
   */
  update(vars: readonly DynamicVar[], sources: ReadonlyMap<string, Settings>): Promise<void> {
    if (this.closed) return Promise.resolve();
    const changedVars = this.updateStates(vars);
    const byType = new Map<string, DynamicVar[]>();
    for (const v of vars) byType.set(v.from, [...(byType.get(v.from) ?? []), v]);
    for (const [type, slot] of this.slots) {
      if (!byType.has(type)) this.dropSlot(slot);
    }
    const waits: Promise<void>[] = [];
    for (const [type, typeVars] of byType) {
      const settings = sources.get(type) ?? {};
      let slot = this.slots.get(type);
      if (slot && slot.key !== settingsKey(settings)) {
        this.dropSlot(slot);
        slot = undefined;
      }
      const fresh = !slot;
      slot ??= this.newSlot(type, settings);
      const varsChanged = typeVars.some((v) => changedVars.has(v.name)) || typeVars.length !== slot.vars.length;
      slot.vars = typeVars;
      if (!fresh && !varsChanged) continue;
      waits.push(new Promise((resolve) => slot.waiters.push(resolve)));
      this.schedule(slot, this.first ? 0 : QUIET_MS);
    }
    this.first = false;
    // The caller applies the values after an update itself; the status may have changed.
    if (changedVars.size > 0) this.notify(false);
    return Promise.all(waits).then(() => {});
  }

  /** The values the app gets now: name -> value, for the variables with a good value. */
  values(): Map<string, string> {
    const values = new Map<string, string>();
    for (const [name, s] of this.states) if (s.value !== undefined) values.set(name, s.value);
    return values;
  }

  /** Some var of the config is new or redefined and not read yet. */
  awaitsReads(): boolean {
    for (const s of this.states.values()) if (s.stale) return true;
    return false;
  }

  /** Each var read at least once (well or not): a var not read yet has no status to give. */
  status(): VarStatus[] {
    const out: VarStatus[] = [];
    for (const slot of this.slots.values()) {
      for (const v of slot.vars) {
        const s = this.states.get(v.name);
        if (!s || (s.resolvedAt === undefined && !s.error)) continue;
        out.push({ name: v.name, source: slot.type, ok: !s.error, message: s.error?.message ?? '', resolvedAt: s.resolvedAt });
      }
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  close(): void {
    this.closed = true;
    for (const slot of this.slots.values()) this.dropSlot(slot);
  }

  /** Keeps the states of vars still defined alike; returns the names new or redefined (or removed). */
  private updateStates(vars: readonly DynamicVar[]): Set<string> {
    const changed = new Set<string>();
    const defs = new Map(vars.map((v) => [v.name, JSON.stringify([v.from, settingsKey(v.config)])]));
    for (const name of this.states.keys()) {
      if (!defs.has(name)) {
        this.states.delete(name);
        changed.add(name);
      }
    }
    for (const [name, def] of defs) {
      const state = this.states.get(name);
      if (!state) this.states.set(name, newState());
      else if (this.defs.get(name) !== def) this.states.set(name, redefined(state));
      else continue;
      changed.add(name);
    }
    this.defs = defs;
    return changed;
  }

  private newSlot(type: string, settings: Settings): Slot {
    const slot: Slot = { type, settings, key: settingsKey(settings), vars: [], abort: new AbortController(), again: false, waiters: [] };
    this.slots.set(type, slot);
    return slot;
  }

  private dropSlot(slot: Slot): void {
    clearTimeout(slot.timer);
    slot.abort.abort();
    closeQuietly(slot.source, this.options.logger, slot.type);
    slot.source = undefined;
    if (this.slots.get(slot.type) === slot) this.slots.delete(slot.type);
    for (const done of slot.waiters.splice(0)) done();
  }

  private schedule(slot: Slot, delayMs: number): void {
    clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      this.refresh(slot);
    }, delayMs);
    slot.timer.unref();
  }

  private nextPeriodic(slot: Slot): void {
    const jitter = ((this.options.random ?? Math.random)() * 2 - 1) * REFRESH_JITTER_MS;
    this.schedule(slot, Math.round(REFRESH_MS + jitter));
  }

  /** Reads the slot's vars now, or once more right after the read in flight. */
  private refresh(slot: Slot): void {
    if (slot.running) {
      slot.again = true;
      return;
    }
    clearTimeout(slot.timer);
    slot.timer = undefined;
    const waiters = slot.waiters.splice(0);
    slot.running = this.read(slot)
      .catch((err: unknown) => this.options.logger.error(`reading the ${slot.type} config source failed unexpectedly: ${(err as Error)?.message ?? err}`))
      .finally(() => {
        slot.running = undefined;
        for (const done of waiters) done();
        if (this.slots.get(slot.type) !== slot) return;
        if (slot.again) {
          slot.again = false;
          this.refresh(slot);
        } else if (!slot.timer) this.nextPeriodic(slot);
      });
  }

  private async read(slot: Slot): Promise<void> {
    const vars = slot.vars;
    const results = await this.readAll(slot, vars);
    if (this.slots.get(slot.type) !== slot || slot.abort.signal.aborted) return;
    const now = Date.now();
    let valuesChanged = false;
    for (const [i, v] of vars.entries()) {
      const before = this.states.get(v.name);
      if (!before || this.slots.get(v.from) !== slot) continue; // removed meanwhile
      const { state, consequence } = applyResult(before, results[i], now);
      const said = failureToLog(state);
      this.states.set(v.name, said.state);
      if (state.value !== before.value) valuesChanged = true;
      const result = results[i];
      if (said.log && !result.ok) {
        this.options.logger.warn(`dynamic config var ${v.name} from the ${slot.type} source failed: ${result.message}; ${CONSEQUENCE_TEXT[consequence]}`, {
          var: v.name,
          source: slot.type,
          failure: result.failure,
        });
      } else if (result.ok && before.error) {
        this.options.logger.info(`dynamic config var ${v.name} from the ${slot.type} source resolves again`, { var: v.name, source: slot.type });
      }
    }
    this.notify(valuesChanged);
  }

  /** One result per var, in order: equal requests read once, every failure a result. */
  private async readAll(slot: Slot, vars: readonly DynamicVar[]): Promise<DynamicResult[]> {
    const unique = new Map<string, DynamicRequest>();
    const keys = vars.map((v) => {
      const key = settingsKey(v.config);
      if (!unique.has(key)) unique.set(key, { name: v.name, config: v.config });
      return key;
    });
    const requests = [...unique.values()];
    let results: DynamicResult[];
    try {
      const source = await this.sourceOf(slot);
      results = await withTimeout(source.read(requests, slot.abort.signal), READ_TIMEOUT_MS, slot.type);
      if (results.length !== requests.length) throw new Error(`the ${slot.type} source answered ${results.length} results for ${requests.length} requests`);
    } catch (err) {
      // No answer in time may pass; a module that cannot load or settings it cannot use stay.
      const failure = err instanceof TimeoutError ? 'transient' : 'invalid';
      const message = String((err as Error)?.message ?? err).split('\n')[0];
      results = requests.map(() => ({ ok: false, failure, message }));
    }
    const byKey = new Map([...unique.keys()].map((k, i) => [k, wellFormed(results[i], slot.type)]));
    return keys.map((k) => byKey.get(k)!);
  }

  /** The slot's source, made on first use (its module loaded once per type). */
  private async sourceOf(slot: Slot): Promise<DynamicSource> {
    if (slot.source) return slot.source;
    const factory = await (this.options.load ?? loadSource)(slot.type);
    if (slot.abort.signal.aborted) throw new Error('the source was replaced');
    slot.source = factory(slot.settings, {
      env: this.options.env,
      logger: this.options.logger,
      refresh: () => {
        if (this.slots.get(slot.type) === slot && !slot.abort.signal.aborted) this.schedule(slot, 0);
      },
    });
    return slot.source;
  }

  /** Tells onValues and onStatus what changed; a newer resolution time alone only now and then. */
  private notify(valuesChanged: boolean): void {
    if (valuesChanged) this.options.onValues();
    const status = this.status();
    const now = Date.now();
    let changed = status.length !== this.reported.size;
    const reported = new Map<string, { ok: boolean; message: string; at: number }>();
    for (const s of status) {
      const prev = this.reported.get(s.name);
      const fresh = !prev || prev.ok !== s.ok || prev.message !== s.message || (s.resolvedAt ?? 0) - prev.at >= STATUS_TIME_EVERY_MS;
      if (fresh) changed = true;
      reported.set(s.name, fresh ? { ok: s.ok, message: s.message, at: s.resolvedAt ?? 0 } : prev);
    }
    if (!changed) return;
    this.reported = reported;
    this.options.onStatus(status);
  }
}

class TimeoutError extends Error {}

const FAILURES: readonly string[] = ['not-found', 'denied', 'transient', 'invalid'];

/** A source's result as the contract says, or a failure saying it was not. */
function wellFormed(r: DynamicResult | undefined, type: string): DynamicResult {
  if (r?.ok === true && typeof r.value === 'string') return r;
  if (r?.ok === false && FAILURES.includes(r.failure) && typeof r.message === 'string') return r;
  return { ok: false, failure: 'invalid', message: `the ${type} source gave a malformed result` };
}

function withTimeout<T>(promise: Promise<T>, ms: number, type: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(`the ${type} source gave no answer within ${ms / 1000} s`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function closeQuietly(source: DynamicSource | undefined, logger: Logger, type: string): void {
  try {
    source?.close();
  } catch (err) {
    logger.debug('closing a config source failed', { source: type, error: (err as Error)?.message });
  }
}
