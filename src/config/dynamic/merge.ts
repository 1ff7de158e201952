// A config's dynamic parts, as the resolver takes them: the sources' settings merged per type
// (Waypoint sends them ordered global -> project -> application; the most specific wins, whole:
// an app's `vault` settings replace the global ones, they are not mixed key by key) and the
// dynamic variables grouped by the type they come from.
import type { ConfigSource__Output } from '../../protocol/generated/hashicorp/waypoint/ConfigSource.js';

export type Settings = Readonly<Record<string, string>>;

export interface DynamicVar {
  name: string;
  /** The source type (`vault`, `null`...). */
  from: string;
  config: Settings;
  internal: boolean;
  file: boolean;
}

const RANK: Record<string, number> = { global: 0, project: 1, application: 2 };

/** type -> its settings, the most specific scope winning; a source marked `delete` is none. */
export function mergeSources(sources: readonly ConfigSource__Output[]): Map<string, Settings> {
  // A stable sort by scope: a foreign server's order within a scope (or with no scope) is kept.
  const ordered = sources.map((s, i) => ({ s, i })).sort((a, b) => rank(a.s) - rank(b.s) || a.i - b.i);
  const merged = new Map<string, Settings>();
  for (const { s } of ordered) {
    if (s.delete || !s.type) continue;
    merged.set(s.type, { ...(s.config ?? {}) });
  }
  return merged;
}

function rank(s: ConfigSource__Output): number {
  return s.scope ? (RANK[s.scope] ?? 0) : 0;
}

/** A key that is equal for equal settings, whatever the order of their keys. */
export function settingsKey(settings: Settings): string {
  return JSON.stringify(Object.keys(settings).sort().map((k) => [k, settings[k]]));
}
