// The config an instance gets, from the vars stored: app vars win over global vars of the same
// name; every message carries the full set (a var removed is simply absent, as Waypoint does).
// A dynamic var goes as Waypoint's DynamicVal: the instance reads its value itself.
import type { ConfigVar } from '../../protocol/generated/hashicorp/waypoint/ConfigVar.js';
import type { ConfigKind } from '../../rules/config.js';

export interface StoredVar {
  /** '' for a global var. */
  app: string;
  name: string;
  kind: ConfigKind;
  /** A static value; for a dynamic var, its config (a JSON object of strings). */
  value: Buffer;
  /** ms since the epoch */
  updatedAt: number;
  /** Set: a dynamic var, which the instance reads from this source type. */
  dynamicFrom?: string;
}

export interface ViewedVar extends StoredVar {
  /** A global var that the app sets itself. */
  overridden: boolean;
}

/** The effective vars of an app, by name: its own, plus the global ones it does not set. */
export function resolve(globals: StoredVar[], own: StoredVar[]): StoredVar[] {
  const byName = new Map<string, StoredVar>();
  for (const v of globals) byName.set(v.name, v);
  for (const v of own) byName.set(v.name, v);
  return [...byName.values()].sort(byNameOrder);
}

/** What `config get --app` shows: every var that reaches the app, overridden globals marked. */
export function view(globals: StoredVar[], own: StoredVar[]): ViewedVar[] {
  const ownNames = new Set(own.map((v) => v.name));
  return [
    ...own.map((v) => ({ ...v, overridden: false })),
    ...globals.map((v) => ({ ...v, overridden: ownNames.has(v.name) })),
  ].sort((a, b) => byNameOrder(a, b) || (a.app === '' ? 1 : 0) - (b.app === '' ? 1 : 0));
}

/** As Waypoint's ConfigVar: static values, internal flag, files named by path. */
export function toWire(vars: StoredVar[]): ConfigVar[] {
  return vars.map((v) => ({
    name: v.name,
    ...(v.dynamicFrom === undefined ? { static: v.value.toString('utf8') } : { dynamic: { from: v.dynamicFrom, config: dynamicConfig(v) } }),
    internal: v.kind === 'internal',
    name_is_path: v.kind === 'file',
  }));
}

/** A dynamic var's own config (Vault's path and key...). */
export function dynamicConfig(v: StoredVar): Record<string, string> {
  return JSON.parse(v.value.toString('utf8')) as Record<string, string>;
}

function byNameOrder(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
