// The shell: asks the server whether the cookie's session is alive, shows the sign-in page or
// the app (navigation, sign-out, the routed page).
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentSession, signOut, whenSignedOut } from './api.js';
import { ConfigPage } from './pages/config.js';
import { ExecHistoryPage } from './pages/exec-history.js';
import { InstancesPage } from './pages/instances.js';
import { LogsPage } from './pages/logs.js';
import { SignInPage } from './pages/signin.js';
import { TerminalPage } from './pages/terminal.js';
import { UrlsPage } from './pages/urls.js';
import { type Page, pages, parseRoute, titles } from './route.js';
import { ErrorLine, Link, message, useLocation } from './ui.js';

type Auth = 'checking' | 'out' | 'in';

export function App(): JSX.Element {
  const [auth, setAuth] = useState<Auth>('checking');
  const [error, setError] = useState<string | null>(null);

  const check = () =>
    currentSession().then(
      (s) => setAuth(s ? 'in' : 'out'),
      (e: unknown) => setError(message(e)),
    );
  useEffect(() => {
    whenSignedOut(() => setAuth('out'));
    void check();
  }, []);

  if (error) {
    return (
      <main id="main" class="center">
        <ErrorLine error={error} />
        <button type="button" onClick={() => (setError(null), void check())}>
          Try again
        </button>
      </main>
    );
  }
  if (auth === 'checking') return <main id="main" class="center" aria-busy="true" />;
  if (auth === 'out') return <SignInPage onSignedIn={() => setAuth('in')} />;
  return <Shell onSignedOut={() => setAuth('out')} />;
}

function Shell({ onSignedOut }: { onSignedOut: () => void }): JSX.Element {
  const loc = useLocation();
  const url = new URL(loc, location.origin);
  const route = parseRoute(url.pathname, url.search);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    document.title = `${titles[route.page]} · waypoint console`;
  }, [route.page]);

  const doSignOut = async () => {
    setBusy(true);
    try {
      await signOut();
    } catch {
      /* gone server-side or not: the page forgets it either way */
    }
    onSignedOut();
  };

  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">waypoint console</span>
        <nav aria-label="Pages">
          {pages.map((p) => (
            <Link key={p} href={`/${p}`} current={p === route.page}>
              {titles[p]}
            </Link>
          ))}
        </nav>
        <button type="button" class="signout" onClick={doSignOut} disabled={busy}>
          Sign out
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <h1>{titles[route.page]}</h1>
        <RoutedPage page={route.page} query={route.query} onSignedOut={onSignedOut} />
      </main>
    </>
  );
}

function RoutedPage({ page, query, onSignedOut }: { page: Page; query: URLSearchParams; onSignedOut: () => void }): JSX.Element {
  switch (page) {
    case 'instances':
      return <InstancesPage onSignedOut={onSignedOut} />;
    case 'logs':
      return <LogsPage query={query} onSignedOut={onSignedOut} />;
    case 'terminal':
      return <TerminalPage query={query} />;
    case 'config':
      return <ConfigPage query={query} onSignedOut={onSignedOut} />;
    case 'exec-history':
      return <ExecHistoryPage query={query} />;
    case 'urls':
      return <UrlsPage />;
  }
}
