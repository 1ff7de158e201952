// Client-side routes: the path names a page, the query holds its filters, so a page's URL can
// be bookmarked or shared (never a token in it).

export const pages = ['instances', 'logs', 'terminal', 'config', 'exec-history', 'urls'] as const;
export type Page = (typeof pages)[number];

export const titles: Record<Page, string> = {
  instances: 'Instances',
  logs: 'Logs',
  terminal: 'Terminal',
  config: 'Config',
  'exec-history': 'Exec history',
  urls: 'URLs',
};

export interface Route {
  page: Page;
  query: URLSearchParams;
}

/** `/` and anything unknown is the instances page (the default). */
export function parseRoute(pathname: string, search: string): Route {
  const name = pathname.replace(/^\/+|\/+$/g, '');
  const page = (pages as readonly string[]).includes(name) ? (name as Page) : 'instances';
  return { page, query: new URLSearchParams(search) };
}

export function href(page: Page, query: Record<string, string | undefined> = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v) q.set(k, v);
  const s = q.toString();
  return `/${page}${s ? `?${s}` : ''}`;
}
