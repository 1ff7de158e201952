// Small pieces the pages share: links that route without a reload, times, errors, the app list.
import type { ComponentChildren, JSX, RefObject } from 'preact';
import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { getJson } from './api.js';
import type { App } from './types.js';

const listeners = new Set<() => void>();

/** Client-side navigation: history.pushState and a re-render of the routed page. */
export function navigate(url: string, replace = false): void {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  for (const f of listeners) f();
}

export function useLocation(): string {
  const [loc, setLoc] = useState(location.pathname + location.search);
  useEffect(() => {
    const f = () => setLoc(location.pathname + location.search);
    listeners.add(f);
    addEventListener('popstate', f);
    return () => {
      listeners.delete(f);
      removeEventListener('popstate', f);
    };
  }, []);
  return loc;
}

export function Link(props: { href: string; children: ComponentChildren; class?: string; current?: boolean }): JSX.Element {
  const onClick = (e: MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.href);
  };
  return (
    <a href={props.href} class={props.class} onClick={onClick} aria-current={props.current ? 'page' : undefined}>
      {props.children}
    </a>
  );
}

const pad = (n: number) => String(n).padStart(2, '0');

/** A moment as local date and time to the second; '—' when unknown. */
export function when(ms: number | string | null | undefined): string {
  if (ms === null || ms === undefined || ms === '') return '—';
  const d = new Date(ms);
  if (Number.isNaN(d.getTime())) return String(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function ErrorLine({ error }: { error: string | null }): JSX.Element | null {
  return error ? (
    <p class="error" role="alert">
      {error}
    </p>
  ) : null;
}

export const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The apps the server knows, for filters and pickers; `refresh` when one may have come since. */
export function useApps(): { apps: App[]; error: string | null; refresh: () => void } {
  const [apps, setApps] = useState<App[]>([]);
  const [error, setError] = useState<string | null>(null);
  const refresh = () =>
    void getJson<{ apps: App[] }>('/api/v1/apps').then(
      (r) => setApps(r.apps),
      (e: unknown) => setError(message(e)),
    );
  useEffect(refresh, []);
  return { apps, error, refresh };
}

/** A <select> of options with an empty first choice. */
export function Choice(props: {
  id: string;
  label: string;
  value: string;
  empty: string;
  options: { value: string; label?: string }[];
  onChange: (v: string) => void;
  /** Called when the list gets the focus (to fetch it anew). */
  onFocus?: () => void;
}): JSX.Element {
  return (
    <label for={props.id}>
      <span>{props.label}</span>
      <select id={props.id} name={props.id} value={props.value} onFocus={props.onFocus} onChange={(e) => props.onChange((e.target as HTMLSelectElement).value)}>
        <option value="">{props.empty}</option>
        {props.options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label ?? o.value}
          </option>
        ))}
        {props.value && !props.options.some((o) => o.value === props.value) && <option value={props.value}>{props.value}</option>}
      </select>
    </label>
  );
}

/** An id (ULID/UUID) in full: its start is a timestamp that instances of one moment share. */
export function Id({ id }: { id: string | null }): JSX.Element {
  return id ? <code class="id">{id}</code> : <span>—</span>;
}

/**
 * Gives an element the height from where it starts to the bottom of the window (at least
 * `min`), again whenever the window or the page above it changes: the logs list and the
 * terminal fill the screen however tall the header and the filters wrap. Set through
 * element.style, which the CSP allows.
 */
export function useFillHeight(ref: RefObject<HTMLElement | null>, min = 200): void {
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    const fit = () => {
      const top = el.getBoundingClientRect().top + window.scrollY;
      el.style.height = `${Math.max(min, Math.floor(window.innerHeight - top - 12))}px`;
    };
    fit();
    const ro = new ResizeObserver(fit);
    ro.observe(document.body);
    addEventListener('resize', fit);
    return () => {
      ro.disconnect();
      removeEventListener('resize', fit);
    };
  }, []);
}
