// Exec history: the audit trail of exec sessions, newest first, by app and instance.
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { getJson } from '../api.js';
import { href } from '../route.js';
import type { ExecSession } from '../types.js';
import { Choice, ErrorLine, Id, message, navigate, useApps, when } from '../ui.js';

export function ExecHistoryPage({ query }: { query: URLSearchParams }): JSX.Element {
  const app = query.get('app') ?? '';
  const instance = query.get('instance') ?? '';
  const limit = query.get('limit') ?? '100';
  const { apps, refresh: refreshApps } = useApps();
  const [sessions, setSessions] = useState<ExecSession[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = () => {
    const q = new URLSearchParams({ limit });
    if (app) q.set('app', app);
    if (instance) q.set('instance', instance);
    getJson<{ sessions: ExecSession[] }>(`/api/v1/exec-history?${q}`).then(
      (r) => (setSessions(r.sessions), setError(null)),
      (e: unknown) => setError(message(e)),
    );
  };
  useEffect(load, [app, instance, limit]);

  return (
    <section>
      <form class="filters" onSubmit={(e) => (e.preventDefault(), load())}>
        <Choice id="hist-app" onFocus={refreshApps} label="App" value={app} empty="All apps" options={apps.map((a) => ({ value: a.name }))} onChange={(a) => navigate(href('exec-history', { app: a, limit }), true)} />
        <Choice id="hist-limit" label="Show" value={limit} empty="100" options={['20', '500', '1000'].map((v) => ({ value: v }))} onChange={(l) => navigate(href('exec-history', { app, instance, limit: l }), true)} />
        <button type="submit">Refresh</button>
      </form>
      <ErrorLine error={error} />
      {sessions && sessions.length === 0 && <p class="empty">No exec sessions yet.</p>}
      {sessions && sessions.length > 0 && (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">App</th>
                <th scope="col">Instance</th>
                <th scope="col">Command</th>
                <th scope="col">TTY</th>
                <th scope="col">State</th>
                <th scope="col">Exit</th>
                <th scope="col">Ended</th>
                <th scope="col">From</th>
              </tr>
            </thead>
            <tbody>
              {sessions.map((s) => (
                <tr key={s.id} data-session={s.id}>
                  <td data-label="Started">{when(s.startedAt)}</td>
                  <td data-label="App">{s.app}</td>
                  <td data-label="Instance">
                    <Id id={s.instanceId} />
                  </td>
                  <td data-label="Command">
                    <code>{s.args.length ? s.args.join(' ') : '$SHELL'}</code>
                  </td>
                  <td data-label="TTY">{s.tty ? 'yes' : 'no'}</td>
                  <td data-label="State">{s.state}</td>
                  <td data-label="Exit">{s.error ? <span class="error">{s.error}</span> : (s.exitCode ?? '—')}</td>
                  <td data-label="Ended">{when(s.endedAt)}</td>
                  <td data-label="From">{s.operatorAddress ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
